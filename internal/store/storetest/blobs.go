package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/kiln-ci/kiln/internal/store"
)

// BlobFactory returns a new, empty blob store for one test.
type BlobFactory func(t testing.TB) store.ArtifactBlobs

// RunBlobs runs the suite every store.ArtifactBlobs implementation passes.
func RunBlobs(t *testing.T, f BlobFactory) {
	for name, test := range blobTests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, f(t))
		})
	}
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// read returns the blob under key.
func read(t testing.TB, b store.ArtifactBlobs, key string) []byte {
	t.Helper()
	r, size, err := b.Open(t.Context(), key)
	must(t, err)
	defer r.Close()
	data, err := io.ReadAll(r)
	must(t, err)
	if int64(len(data)) != size {
		t.Errorf("Open reported %d bytes, read %d", size, len(data))
	}
	return data
}

var blobTests = map[string]func(*testing.T, store.ArtifactBlobs){
	"Put stores a blob that Open returns, with its size and checksum": func(t *testing.T, b store.ArtifactBlobs) {
		data := bytes.Repeat([]byte("kiln artifact "), 100000)
		info, err := b.Put(t.Context(), "projects/1/jobs/2/archive.zip", bytes.NewReader(data),
			store.Expect{Size: int64(len(data)), SHA256: strings.ToUpper(sum(data))})
		must(t, err)
		if info.Size != int64(len(data)) || info.SHA256 != sum(data) {
			t.Errorf("Put = %+v, want size %d sha %s", info, len(data), sum(data))
		}
		if got := read(t, b, "projects/1/jobs/2/archive.zip"); !bytes.Equal(got, data) {
			t.Error("Open returned other bytes")
		}
		r, _, err := b.Open(t.Context(), "projects/1/jobs/2/archive.zip")
		must(t, err)
		defer r.Close()
		if _, err := r.Seek(14, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		head := make([]byte, 4)
		if _, err := io.ReadFull(r, head); err != nil || string(head) != "kiln" {
			t.Errorf("after Seek(14): %q, %v", head, err)
		}
	},
	"Put without expectations stores whatever arrives": func(t *testing.T, b store.ArtifactBlobs) {
		info, err := b.Put(t.Context(), "empty", strings.NewReader(""), store.AnySize)
		must(t, err)
		if info.Size != 0 || info.SHA256 != sum(nil) {
			t.Errorf("empty blob = %+v", info)
		}
		if got := read(t, b, "empty"); len(got) != 0 {
			t.Errorf("empty blob reads %q", got)
		}
	},
	"a blob that does not match what was expected is not stored": func(t *testing.T, b store.ArtifactBlobs) {
		data := []byte("the real contents")
		for name, want := range map[string]store.Expect{
			"short": {Size: int64(len(data)) + 1},
			"long":  {Size: int64(len(data)) - 1},
			"sha":   {Size: -1, SHA256: sum([]byte("other"))},
		} {
			_, err := b.Put(t.Context(), "blob-"+name, bytes.NewReader(data), want)
			wantErr(t, err, store.ErrInvalid)
			_, _, err = b.Open(t.Context(), "blob-"+name)
			wantErr(t, err, store.ErrNotFound)
		}
	},
	"a failed Put keeps the previous blob whole": func(t *testing.T, b store.ArtifactBlobs) {
		_, err := b.Put(t.Context(), "k", strings.NewReader("version one"), store.AnySize)
		must(t, err)
		_, err = b.Put(t.Context(), "k", strings.NewReader("version two"), store.Expect{Size: 3})
		wantErr(t, err, store.ErrInvalid)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err = b.Put(ctx, "k", strings.NewReader("version three"), store.AnySize)
		if err == nil {
			t.Error("Put with a canceled context succeeded")
		}
		_, err = b.Put(t.Context(), "k", io.MultiReader(strings.NewReader("version f"), failingReader{}), store.AnySize)
		if err == nil {
			t.Error("Put of a failing reader succeeded")
		}
		if got := read(t, b, "k"); string(got) != "version one" {
			t.Errorf("blob = %q, want version one", got)
		}
		_, err = b.Put(t.Context(), "k", strings.NewReader("version two"), store.AnySize)
		must(t, err)
		if got := read(t, b, "k"); string(got) != "version two" {
			t.Errorf("blob = %q after replacing, want version two", got)
		}
	},
	"concurrent Puts to one key leave one whole blob": func(t *testing.T, b store.ArtifactBlobs) {
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				data := bytes.Repeat([]byte{byte('a' + i)}, 64<<10)
				if _, err := b.Put(t.Context(), "race", bytes.NewReader(data), store.AnySize); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		got := read(t, b, "race")
		if len(got) != 64<<10 || !bytes.Equal(got, bytes.Repeat(got[:1], len(got))) {
			t.Errorf("blob of %d bytes mixes writers", len(got))
		}
	},
	"Delete removes a blob and forgives a missing one": func(t *testing.T, b store.ArtifactBlobs) {
		_, err := b.Put(t.Context(), "a/b/c", strings.NewReader("x"), store.AnySize)
		must(t, err)
		must(t, b.Delete(t.Context(), "a/b/c"))
		_, _, err = b.Open(t.Context(), "a/b/c")
		wantErr(t, err, store.ErrNotFound)
		must(t, b.Delete(t.Context(), "a/b/c"))
	},
	"bad keys are refused": func(t *testing.T, b store.ArtifactBlobs) {
		for _, key := range []string{"", "../escape", "/abs", "a/../../b", ".tmp/x", "a b"} {
			_, err := b.Put(t.Context(), key, strings.NewReader("x"), store.AnySize)
			wantErr(t, err, store.ErrInvalid)
			_, _, err = b.Open(t.Context(), key)
			wantErr(t, err, store.ErrInvalid)
			wantErr(t, b.Delete(t.Context(), key), store.ErrInvalid)
		}
	},
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }
