package sources

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/kiln-ci/kiln/internal/jobspec"
	"github.com/kiln-ci/kiln/internal/runner/trace"
)

// BenchmarkTreeCopy measures kiln exec's get_sources for a working tree of 600 files
// of 4 KiB in 30 directories, committed (so .git holds as many objects), with a clean
// copy: the job's wall time in get_sources, p50 and p95. KILN_BENCH_TREE names
// another working tree to copy instead (e.g. a real repository):
//
//	go test ./internal/runner/sources -run '^$' -bench TreeCopy -benchtime=20x
func BenchmarkTreeCopy(b *testing.B) {
	src := os.Getenv("KILN_BENCH_TREE")
	if src == "" {
		src = b.TempDir()
		content := make([]byte, 4096)
		for i := range 600 {
			p := filepath.Join(src, fmt.Sprintf("dir%02d", i%30), fmt.Sprintf("file%03d.txt", i))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
			copy(content, fmt.Sprintf("file %d\n", i))
			if err := os.WriteFile(p, content, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		gitB(b, src, "init", "-q", "-b", "main")
		gitB(b, src, "add", ".")
		gitB(b, src, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "files")
	}
	dst := filepath.Join(b.TempDir(), "project")
	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		err := Tree{Dir: src, Clean: true}.Get(context.Background(), Request{Job: &jobspec.Job{}, Dir: dst,
			TmpDir: b.TempDir(), Log: trace.NewLog(io.Discard, trace.LogConfig{})})
		if err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[max((len(took)*95+99)/100-1, 0)].Microseconds())/1000, "p95-ms")
}

func gitB(b *testing.B, dir string, args ...string) {
	b.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("git %v: %v\n%s", args, err, out)
	}
}
