package provider_test

import (
	"context"
	"testing"

	"github.com/kiln-ci/kiln/internal/gpu/nvmltest"
)

// BenchmarkAdmit is the cost the agent pays before each job request on an 8-GPU host
// with 4 jobs running: reading the lease state and counting the GPUs that can take a job.
func BenchmarkAdmit(b *testing.B) {
	s := nvmltest.NewDGXA100()
	p := open(b, openHost(b, s), config(s, b.TempDir()))
	for i := range 4 {
		l, err := p.Acquire(context.Background(), job(int64(i)), request(b, nil))
		if err != nil {
			b.Fatal(err)
		}
		defer l.Finish(context.Background())
	}
	b.ResetTimer()
	for b.Loop() {
		release, ok := p.Admit()
		if !ok {
			b.Fatal("not admitted")
		}
		release()
	}
}

// BenchmarkKilnInfo is the cost of the info.kiln sent with every job request and job
// update on an 8-GPU host.
func BenchmarkKilnInfo(b *testing.B) {
	s := nvmltest.NewDGXA100()
	p := open(b, openHost(b, s), config(s, b.TempDir()))
	b.ResetTimer()
	for b.Loop() {
		if info := p.KilnInfo(); len(info.GPUs) != 8 {
			b.Fatal(info)
		}
	}
}
