package sqlstore

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

func TestCRC32CombineEqualsTheChecksumOfTheConcatenation(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		a := make([]byte, r.IntN(5000))
		b := make([]byte, r.IntN(70000))
		for i := range a {
			a[i] = byte(r.Uint32())
		}
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		want := crc32.ChecksumIEEE(append(append([]byte{}, a...), b...))
		if got := crc32Combine(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), int64(len(b))); got != want {
			t.Fatalf("combine(%d bytes, %d bytes) = %08x, want %08x", len(a), len(b), got, want)
		}
	}
}

func BenchmarkCRC32Combine(b *testing.B) {
	for b.Loop() {
		crc32Combine(0x12345678, 0x9abcdef0, 4096)
	}
}
