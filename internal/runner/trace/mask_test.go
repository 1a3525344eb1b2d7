package trace

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func maskAll(values, prefixes []string, parts ...string) string {
	var out bytes.Buffer
	m := NewMasker(&out, values, prefixes)
	for _, p := range parts {
		m.Write([]byte(p))
	}
	m.Flush()
	return out.String()
}

func TestMaskerReplacesValues(t *testing.T) {
	cases := []struct {
		name   string
		values []string
		in     string
		want   string
	}{
		{"one value", []string{"s3cr3t-value"}, "token=s3cr3t-value;", "token=[MASKED];"},
		{"twice", []string{"AAAAbbbb"}, "AAAAbbbb AAAAbbbb", "[MASKED] [MASKED]"},
		{"adjacent", []string{"AAAAbbbb"}, "AAAAbbbbAAAAbbbb", "[MASKED][MASKED]"},
		{"overlapping values hide both", []string{"abcdefgh", "efghijkl"}, "xabcdefghijklx", "x[MASKED]x"},
		{"value inside another", []string{"password1234", "word1234"}, "password1234 word1234", "[MASKED] [MASKED]"},
		{"partial value stays", []string{"abcdefgh"}, "abcdefg", "abcdefg"},
		{"multiline value", []string{"line1\nline2"}, "a line1\nline2 b", "a [MASKED] b"},
		{"no values", nil, "plain", "plain"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := maskAll(c.values, nil, c.in); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestMaskerTokenPrefixesKeepThePrefix(t *testing.T) {
	cases := []struct {
		name     string
		prefixes []string
		in       string // "|" separates writes
		want     string
	}{
		{"default prefix in a sentence", nil, "use glpat-Abc123_x.y=z now", "use glpat-[MASKED] now"},
		{"at the end of the stream", nil, "token glpat-abcdef", "token glpat-[MASKED]"},
		{"glued to a word", nil, "xglpat-abc,", "xglpat-[MASKED],"},
		{"second prefix inside the token", nil, "glpat-abcglpat-def end", "glpat-[MASKED] end"},
		{"prefix alone is not a token", nil, "glpat- is a prefix", "glpat- is a prefix"},
		{"prefix split across writes", nil, "gl|pat-abcd efg", "glpat-[MASKED] efg"},
		{"token split across writes", nil, "glpat-ab|cd|ef gh", "glpat-[MASKED] gh"},
		{"split before a space", nil, "glpat| -abcd", "glpat -abcd"},
		{"custom prefix", []string{" glcbt- "}, "glcbt-64_abcd done", "glcbt-[MASKED] done"},
		{"eleventh prefix ignored", []string{"p1-", "p2-", "p3-", "p4-", "p5-", "p6-", "p7-", "p8-", "p9-", "p10-"}, "p9-aa p10-bb", "p9-[MASKED] p10-bb"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := maskAll(nil, c.prefixes, strings.Split(c.in, "|")...); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

// TestMaskerEverySplitPosition writes a log containing secrets in two and in three
// pieces at every possible cut, and demands the same output as one write.
func TestMaskerEverySplitPosition(t *testing.T) {
	values := []string{"SuperSecret99", "Secret99Tail", "aaaaaaaaaa"}
	in := "start SuperSecret99Tail mid aaaaaaaaaaaaa glpat-TOKENvalue_1 end SuperSecret9 x Secret99Tail"
	want := maskAll(values, nil, in)
	for _, v := range values {
		if strings.Contains(want, v) {
			t.Fatalf("one-write output still shows %q: %q", v, want)
		}
	}
	for i := 0; i <= len(in); i++ {
		if got := maskAll(values, nil, in[:i], in[i:]); got != want {
			t.Fatalf("split at %d: got %q, want %q", i, got, want)
		}
		for j := i; j <= len(in); j++ {
			if got := maskAll(values, nil, in[:i], in[i:j], in[j:]); got != want {
				t.Fatalf("split at %d,%d: got %q, want %q", i, j, got, want)
			}
		}
	}
	// Byte by byte.
	var parts []string
	for i := range in {
		parts = append(parts, in[i:i+1])
	}
	if got := maskAll(values, nil, parts...); got != want {
		t.Fatalf("byte by byte: got %q, want %q", got, want)
	}
}

func TestMaskerHoldsBackOnlyWhatCouldBeASecret(t *testing.T) {
	var out bytes.Buffer
	m := NewMasker(&out, []string{"abcdefgh"}, nil)
	m.Write([]byte("hello abc"))
	if out.String() != "hello " {
		t.Fatalf("emitted %q before the next write, want %q", out.String(), "hello ")
	}
	m.Write([]byte("xyz\n"))
	if out.String() != "hello abcxyz\n" {
		t.Fatalf("emitted %q, want everything once the partial match failed", out.String())
	}
}

func FuzzMaskerSplitsNeverLeakSecrets(f *testing.F) {
	f.Add("the secret is hunter22hunter22 ok", uint16(7), uint16(20))
	f.Add("glpat-abcdef glpat-", uint16(3), uint16(9))
	f.Add("XYXYXYXYXYXYXYXY", uint16(1), uint16(2))
	values := []string{"hunter22hunter22", "XYXYXYXY", "YXYXYXYX", "glpat-abcdef"}
	f.Fuzz(func(t *testing.T, in string, a, b uint16) {
		i, j := int(a)%(len(in)+1), int(b)%(len(in)+1)
		if i > j {
			i, j = j, i
		}
		one := maskAll(values, nil, in)
		split := maskAll(values, nil, in[:i], in[i:j], in[j:])
		if one != split {
			t.Fatalf("split at %d,%d changed the output: %q vs %q", i, j, split, one)
		}
		for _, v := range values[:3] {
			if strings.Contains(split, v) {
				t.Fatalf("output %q shows secret %q", split, v)
			}
		}
	})
}

// BenchmarkLogWrite32KiB is the job log's cost per 32 KiB write (the size a pipe read
// gives) with two masked values and the default token prefix.
func BenchmarkLogWrite32KiB(b *testing.B) {
	chunk := bytes.Repeat([]byte("some ordinary build output, nothing secret in it\n"), 32<<10/49)
	l := NewLog(io.Discard, LogConfig{Limit: -1, MaskValues: []string{"glcbt-64_abcdefghijklmnopqrst", "s3cr3tP4ssw0rdValue"}})
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		l.Write(chunk)
	}
}
