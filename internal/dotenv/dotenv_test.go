package dotenv

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf16"
)

// pairs writes vars as KEY=VALUE;KEY=VALUE.
func pairs(vars []Variable) string {
	var parts []string
	for _, v := range vars {
		parts = append(parts, v.Key+"="+v.Value)
	}
	return strings.Join(parts, ";")
}

func TestLinesFollowGitLabsParser(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    string // KEY=VALUE;... of the result
		wantErr string
	}{
		{"simple", "KEY1=VAR1\nKEY2=VAR2\n", "KEY1=VAR1;KEY2=VAR2", ""},
		{"no final newline", "A=1", "A=1", ""},
		{"space around the key is trimmed", "KEY1 =VAR1", "KEY1=VAR1", ""},
		{"split at the first equals sign", "KEY=VAR=EQLS", "KEY=VAR=EQLS", ""},
		{"spaces inside the value stay", "KEY1=V A R 1", "KEY1=V A R 1", ""},
		{"quotes stay", `KEY1="VAR1"` + "\nKEY2='x'", `KEY1="VAR1";KEY2='x'`, ""},
		{"no expansion", "K1=V\nK2=${K1}_x", "K1=V;K2=${K1}_x", ""},
		{"hash is no comment", "K=V  # note", "K=V  # note", ""},
		{"empty value", "K=", "K=", ""},
		{"carriage returns", "A=1\r\nB=2\r\n", "A=1;B=2", ""},
		{"later wins, in the first one's place", "A=1\nB=2\nA=3", "A=3;B=2", ""},
		{"utf-8 value", "skateboard=🛹", "skateboard=🛹", ""},
		{"utf-8 byte order mark", "\xef\xbb\xbfBUILD_ID = 42\n", "BUILD_ID=42", ""},
		{"empty line", "A=1\n\nB=2\n", "", "line 2: Invalid Format"},
		{"not dotenv", "{ 'KEY1': 'VAR1' }", "", "line 1: Invalid Format"},
		{"comment line", "# note\nA=1", "", "line 1: Invalid Format"},
		{"missing key", "A=1\n=VAR1", "", "line 2: Validation failed: Key can't be blank"},
		{"long key", strings.Repeat("K", 256) + "=v", "", "line 1: Validation failed: Key is too long (maximum is 255 characters)"},
		{"space in key", "K E Y=V", "", "line 1: Validation failed: Key can contain only letters, digits and '_'."},
		{"dash in key", "A=1\nMY-KEY=V", "", "line 2: Validation failed: Key can contain only letters, digits and '_'."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vars, err := Parse([]byte(c.in), Limits{})
			if c.wantErr != "" {
				if !errors.Is(err, ErrInvalid) || err.Error() != c.wantErr && !strings.HasPrefix(err.Error(), c.wantErr+" ") {
					t.Fatalf("error = %v, want %q (matching ErrInvalid)", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := pairs(vars); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestNoMoreThanTheVariableLimit(t *testing.T) {
	var many strings.Builder
	for i := range 21 {
		many.WriteString("K" + string(rune('A'+i)) + "=v\n")
	}
	_, err := Parse([]byte(many.String()), Limits{})
	if !errors.Is(err, ErrInvalid) || err.Error() != "Dotenv files cannot have more than 20 variables" {
		t.Errorf("21 variables: %v", err)
	}
	if _, err := Parse([]byte(many.String()), Limits{MaxVariables: 50}); err != nil {
		t.Errorf("21 variables with a limit of 50: %v", err)
	}
	if _, err := Parse([]byte(many.String()+"KA=again\n"), Limits{MaxVariables: 21}); err != nil {
		t.Errorf("21 variables, one of them set twice, with a limit of 21: %v", err)
	}
}

func TestAReportMustBeSmallerThanTheSizeLimit(t *testing.T) {
	big := []byte("K=" + strings.Repeat("x", 5*1024))
	_, err := Parse(big, Limits{})
	if !errors.Is(err, ErrInvalid) || err.Error() != "Dotenv Artifact Too Big. Maximum Allowable Size: 5120" {
		t.Errorf("too big: %v", err)
	}
	exact := []byte("K=" + strings.Repeat("x", 5*1024-2))
	if _, err := Parse(exact, Limits{}); err == nil {
		t.Error("a report of exactly the limit was accepted; GitLab wants it smaller")
	}
	if _, err := Parse(exact[:len(exact)-1], Limits{}); err != nil {
		t.Errorf("a report one byte under the limit: %v", err)
	}
	if _, err := Parse(exact, Limits{MaxBytes: 6 * 1024}); err != nil {
		t.Errorf("with a limit of 6 KiB: %v", err)
	}
}

func TestUTF16WithAByteOrderMarkIsRead(t *testing.T) {
	for _, order := range []string{"little-endian", "big-endian"} {
		u := utf16.Encode([]rune("MY_ENV_VAR=true\r\nTEST2=false\r\n"))
		b := []byte{0xFF, 0xFE}
		if order == "big-endian" {
			b = []byte{0xFE, 0xFF}
		}
		for _, c := range u {
			if order == "big-endian" {
				b = append(b, byte(c>>8), byte(c))
			} else {
				b = append(b, byte(c), byte(c>>8))
			}
		}
		vars, err := Parse(b, Limits{})
		if got := pairs(vars); err != nil || got != "MY_ENV_VAR=true;TEST2=false" {
			t.Errorf("%s: %q, %v", order, got, err)
		}
	}
}

func TestSeveralReportsAreOneListWithOneSizeLimit(t *testing.T) {
	vars, err := ParseReports([]Report{{"a.env", []byte("A=1\nB=2")}, {"b.env", []byte("A=3\nC=4\n")}}, Limits{})
	if got := pairs(vars); err != nil || got != "A=3;B=2;C=4" {
		t.Errorf("got %q, %v; want the later report's A in the first one's place", got, err)
	}
	_, err = ParseReports([]Report{{"a.env", []byte("A=1\n")}, {"b.env", []byte("A=1\nnot a line\n")}}, Limits{})
	if err == nil || err.Error() != "b.env line 2: Invalid Format (not KEY=VALUE)" {
		t.Errorf("a bad line in the second report: %v", err)
	}
	_, err = ParseReports([]Report{{"", []byte("A=1\n")}, {"", []byte("-=1\n")}}, Limits{})
	if err == nil || !strings.HasPrefix(err.Error(), "report 2 line 1: ") {
		t.Errorf("a bad line in an unnamed second report: %v", err)
	}
	half := []byte("K=" + strings.Repeat("x", 2558) + "\n") // 2,561 bytes: two make 5,122
	if _, err := ParseReports([]Report{{"a", half}, {"b", half}}, Limits{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("two reports of 2,561 bytes under a limit of 5,120: %v", err)
	}
}

func TestErrorsNeverShowALinesText(t *testing.T) {
	for _, in := range []string{
		"OK=s3cr3t-value\nnot a line with the secret s3cr3t-value\n",
		"s3cr3t-value=x\n",
		"token s3cr3t-value = x\n",
	} {
		_, err := Parse([]byte(in), Limits{})
		if err == nil || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("Parse(%q): error %v shows the line", in, err)
		}
	}
}

// gzipMembers writes one gzip member per report, named, as the runner uploads them.
func gzipMembers(t *testing.T, reports ...Report) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	for _, r := range reports {
		zw := gzip.NewWriter(&buf)
		zw.Name = r.Name
		if _, err := zw.Write(r.Data); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return &buf
}

func TestGzipReportsAsTheRunnerUploadsThem(t *testing.T) {
	// The first member has no final newline: its last line must not run into the next.
	vars, err := ParseGzip(gzipMembers(t, Report{"a.env", []byte("A=1")}, Report{"b.env", []byte("B=2\n")}), Limits{})
	if got := pairs(vars); err != nil || got != "A=1;B=2" {
		t.Fatalf("ParseGzip = %q, %v", got, err)
	}
	_, err = ParseGzip(gzipMembers(t, Report{"a.env", []byte("A=1\n")}, Report{"b.env", []byte("oops\n")}), Limits{})
	if err == nil || err.Error() != "b.env line 1: Invalid Format (not KEY=VALUE)" {
		t.Errorf("a bad second member: %v", err)
	}
	if vars, err := ParseGzip(strings.NewReader(""), Limits{}); err != nil || len(vars) != 0 {
		t.Errorf("an empty stream: %v, %v; want no variables, as GitLab reads no blob", vars, err)
	}
	if _, err := ParseGzip(strings.NewReader("plain"), Limits{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("not gzip: %v", err)
	}
	broken := gzipMembers(t, Report{"a.env", []byte("A=1\n")}).Bytes()
	broken[len(broken)-5] ^= 0xFF // the length in the trailer
	if _, err := ParseGzip(bytes.NewReader(broken), Limits{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a corrupt member: %v", err)
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestAGzipReportTooBigIsRefusedWithoutReadingItAll(t *testing.T) {
	// 10 MB of zeros compress to about 10 KB; reading stops after 5 KiB of text.
	huge := gzipMembers(t, Report{"huge.env", append([]byte("K="), make([]byte, 10<<20)...)})
	size := huge.Len()
	r := &countingReader{r: huge}
	_, err := ParseGzip(r, Limits{})
	if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "Dotenv Artifact Too Big") {
		t.Errorf("10 MB report: %v", err)
	}
	if r.n >= size {
		t.Errorf("read all %d compressed bytes of a report far too big", r.n)
	}
}

func TestARawReportIsReadNoFurtherThanTheSizeLimit(t *testing.T) {
	vars, err := ParseReader(strings.NewReader("A=1\nB=2\n"), Limits{})
	if got := pairs(vars); err != nil || got != "A=1;B=2" {
		t.Errorf("ParseReader = %q, %v", got, err)
	}
	r := &countingReader{r: io.MultiReader(strings.NewReader("K="), bytes.NewReader(make([]byte, 1<<20)))}
	if _, err := ParseReader(r, Limits{}); !errors.Is(err, ErrInvalid) || r.n > 5*1024 {
		t.Errorf("a report of 1 MiB: %v after reading %d bytes", err, r.n)
	}
}
