package storetest

import (
	"bytes"
	"hash/crc32"
	"sync"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/store"
)

var traceTests = map[string]func(*testing.T, *env){
	"appends at the current length grow the trace and its checksum": func(t *testing.T, e *env) {
		j := e.pendingJob()
		parts := [][]byte{[]byte("Running with kiln\n"), []byte("$ nvidia-smi\n"), bytes.Repeat([]byte{0, 1, 2, 0xff}, 5000)}
		var all []byte
		for _, p := range parts {
			info, err := e.s.Traces.AppendTrace(e.ctx, j.ID, int64(len(all)), p)
			must(t, err)
			all = append(all, p...)
			if info.Size != int64(len(all)) {
				t.Errorf("AppendTrace reports size %d, want %d", info.Size, len(all))
			}
			if info, err = e.s.Traces.TraceInfo(e.ctx, j.ID); err != nil || info.Size != int64(len(all)) ||
				info.CRC32 != crc32.ChecksumIEEE(all) {
				t.Errorf("TraceInfo = %+v, %v; want size %d crc %08x", info, err, len(all), crc32.ChecksumIEEE(all))
			}
		}
		info, err := e.s.Traces.TraceInfo(e.ctx, j.ID)
		must(t, err)
		if info.Size != int64(len(all)) || info.CRC32 != crc32.ChecksumIEEE(all) {
			t.Errorf("TraceInfo = %+v", info)
		}
		for _, off := range []int64{0, 5, 18, 20, int64(len(all)) - 1} {
			got, err := e.s.Traces.ReadTrace(e.ctx, j.ID, off)
			must(t, err)
			if !bytes.Equal(got, all[off:]) {
				t.Errorf("ReadTrace(%d) = %d bytes, want %d", off, len(got), len(all)-int(off))
			}
		}
		for _, off := range []int64{int64(len(all)), int64(len(all)) + 10} {
			got, err := e.s.Traces.ReadTrace(e.ctx, j.ID, off)
			must(t, err)
			if len(got) != 0 {
				t.Errorf("ReadTrace(%d) past the end = %q", off, got)
			}
		}
	},
	"an append at the wrong offset is refused with the current length": func(t *testing.T, e *env) {
		j := e.pendingJob()
		_, err := e.s.Traces.AppendTrace(e.ctx, j.ID, 0, []byte("hello"))
		must(t, err)
		for _, off := range []int64{0, 4, 6} {
			info, err := e.s.Traces.AppendTrace(e.ctx, j.ID, off, []byte("again"))
			wantErr(t, err, store.ErrRangeMismatch)
			if info.Size != 5 {
				t.Errorf("refused append at %d reports size %d, want 5", off, info.Size)
			}
		}
		info, err := e.s.Traces.AppendTrace(e.ctx, j.ID, 3, nil)
		wantErr(t, err, store.ErrRangeMismatch)
		info, err = e.s.Traces.AppendTrace(e.ctx, j.ID, 5, nil) // empty: only checks
		must(t, err)
		if info.Size != 5 {
			t.Errorf("size %d, want 5", info.Size)
		}
		got, err := e.s.Traces.ReadTrace(e.ctx, j.ID, 0)
		must(t, err)
		if string(got) != "hello" {
			t.Errorf("trace = %q after refused appends, want hello", got)
		}
		_, err = e.s.Traces.AppendTrace(e.ctx, j.ID, -1, []byte("x"))
		wantErr(t, err, store.ErrInvalid)
		_, err = e.s.Traces.AppendTrace(e.ctx, j.ID+100, 0, []byte("x"))
		wantErr(t, err, store.ErrNotFound)
		_, err = e.s.Traces.ReadTrace(e.ctx, j.ID+100, 0)
		wantErr(t, err, store.ErrNotFound)
		_, err = e.s.Traces.ReadTrace(e.ctx, j.ID, -1)
		wantErr(t, err, store.ErrInvalid)
		_, err = e.s.Traces.TraceInfo(e.ctx, j.ID+100)
		wantErr(t, err, store.ErrNotFound)
	},
	"of concurrent appends at one offset exactly one lands": func(t *testing.T, e *env) {
		j := e.pendingJob()
		const n = 8
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for i := range n {
			wg.Go(func() {
				_, err := e.s.Traces.AppendTrace(e.ctx, j.ID, 0, []byte{byte('a' + i)})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won++
				case !errorsIs(err, store.ErrRangeMismatch):
					t.Error(err)
				}
			})
		}
		wg.Wait()
		info, err := e.s.Traces.TraceInfo(e.ctx, j.ID)
		must(t, err)
		if won != 1 || info.Size != 1 {
			t.Errorf("%d appends landed, trace size %d; want 1 and 1", won, info.Size)
		}
	},
	"ResetTrace truncates so the runner can resend from zero": func(t *testing.T, e *env) {
		j := e.pendingJob()
		_, err := e.s.Traces.AppendTrace(e.ctx, j.ID, 0, []byte("garbled"))
		must(t, err)
		must(t, e.s.Traces.ResetTrace(e.ctx, j.ID))
		info, err := e.s.Traces.TraceInfo(e.ctx, j.ID)
		must(t, err)
		if info != (store.TraceInfo{}) {
			t.Errorf("after reset: %+v", info)
		}
		_, err = e.s.Traces.AppendTrace(e.ctx, j.ID, 0, []byte("clean"))
		must(t, err)
		got, err := e.s.Traces.ReadTrace(e.ctx, j.ID, 0)
		must(t, err)
		if string(got) != "clean" {
			t.Errorf("trace = %q, want clean", got)
		}
		wantErr(t, e.s.Traces.ResetTrace(e.ctx, j.ID+100), store.ErrNotFound)
	},
	"an append counts as runner contact": func(t *testing.T, e *env) {
		j := e.pendingJob()
		e.clock.Advance(time.Minute)
		_, err := e.s.Traces.AppendTrace(e.ctx, j.ID, 0, []byte("x"))
		must(t, err)
		got, err := e.s.Jobs.Job(e.ctx, j.ID)
		must(t, err)
		equalTime(t, "UpdatedAt", got.UpdatedAt, e.clock.Now())
	},
}
