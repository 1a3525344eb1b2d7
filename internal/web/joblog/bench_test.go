package joblog_test

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/web/joblog"
)

// benchLog is a log as gitlab-runner writes it: sections, coloured notices and
// plain build output, about 1 MiB.
func benchLog() []byte {
	var b strings.Builder
	for i := 0; b.Len() < 1<<20; i++ {
		fmt.Fprintf(&b, "section_start:%d:step_%d[collapsed=true]\r\x1b[0K\x1b[36;1mStep %d\x1b[0;m\n", 1700000000+i, i, i)
		for j := range 40 {
			fmt.Fprintf(&b, "\x1b[32;1m$ make target-%d\x1b[0;m\n", j)
			fmt.Fprintf(&b, "compiling src/module_%d/file_%d.go <ok> & linked in 12ms\n", i, j)
		}
		fmt.Fprintf(&b, "section_end:%d:step_%d\r\x1b[0K\n", 1700000003+i, i)
	}
	return []byte(b.String())
}

// BenchmarkRender measures rendering throughput (MB/s of log).
func BenchmarkRender(b *testing.B) {
	log := benchLog()
	b.SetBytes(int64(len(log)))
	b.ReportAllocs()
	for b.Loop() {
		var st joblog.State
		if _, err := joblog.Render(io.Discard, &st, log, true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFollow measures a follow-mode poll: a 4 KiB chunk rendered from a decoded state.
func BenchmarkFollow(b *testing.B) {
	log := benchLog()
	var st joblog.State
	cut := strings.LastIndexByte(string(log[:len(log)/2]), '\n') + 1
	joblog.Render(io.Discard, &st, log[:cut], false)
	token := st.Encode()
	chunk := log[cut : cut+4096]
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		s, err := joblog.Decode(token)
		if err != nil {
			b.Fatal(err)
		}
		joblog.Render(io.Discard, &s, chunk, false)
		_ = s.Encode()
	}
}
