package artifacts

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/kiln-ci/kiln/internal/jobspec"
)

func TestDotenvFollowsGitLabsParser(t *testing.T) {
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
		{"later wins", "A=1\nA=2", "A=2", ""},
		{"utf-8 value", "skateboard=🛹", "skateboard=🛹", ""},
		{"empty line", "A=1\n\nB=2\n", "", "Invalid Format"},
		{"not dotenv", "{ 'KEY1': 'VAR1' }", "", "Invalid Format"},
		{"comment line", "# note\nA=1", "", "Invalid Format"},
		{"missing key", "=VAR1", "", "Key can't be blank"},
		{"space in key", "K E Y=V", "", "Key can contain only letters, digits and '_'."},
		{"dash in key", "MY-KEY=V", "", "Key can contain only letters, digits and '_'."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vars, err := ParseDotenv([][]byte{[]byte(c.in)}, DefaultDotenvLimits)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, v := range vars {
				parts = append(parts, v.Key+"="+v.Value)
			}
			if got := strings.Join(parts, ";"); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestDotenvLimits(t *testing.T) {
	var many strings.Builder
	for i := range 21 {
		many.WriteString("K" + string(rune('A'+i)) + "=v\n")
	}
	_, err := ParseDotenv([][]byte{[]byte(many.String())}, DefaultDotenvLimits)
	if err == nil || err.Error() != "Dotenv files cannot have more than 20 variables" {
		t.Errorf("21 variables: %v", err)
	}
	big := []byte("K=" + strings.Repeat("x", 5*1024))
	_, err = ParseDotenv([][]byte{big}, DefaultDotenvLimits)
	if err == nil || !strings.HasPrefix(err.Error(), "Dotenv Artifact Too Big. Maximum Allowable Size: 5120") {
		t.Errorf("too big: %v", err)
	}
	exact := []byte("K=" + strings.Repeat("x", 5*1024-2))
	if _, err := ParseDotenv([][]byte{exact}, DefaultDotenvLimits); err == nil {
		t.Error("a report of exactly the limit was accepted; GitLab wants it smaller")
	}
}

func TestDotenvReadsUTF16WithByteOrderMark(t *testing.T) {
	u := utf16.Encode([]rune("MY_ENV_VAR=true\r\nTEST2=false\r\n"))
	b := []byte{0xFF, 0xFE}
	for _, c := range u {
		b = append(b, byte(c), byte(c>>8))
	}
	vars, err := ParseDotenv([][]byte{b}, DefaultDotenvLimits)
	if err != nil || len(vars) != 2 || vars.Get("MY_ENV_VAR") != "true" || vars.Get("TEST2") != "false" {
		t.Errorf("vars = %+v, %v", vars, err)
	}
}

func TestRuns(t *testing.T) {
	for _, c := range []struct {
		when string
		ok   bool
		want bool
	}{{"", true, true}, {"", false, false}, {"on_failure", false, true}, {"on_failure", true, false}, {"always", false, true}} {
		if got, _ := Runs(c.when, c.ok); got != c.want {
			t.Errorf("Runs(%q, %v) = %v", c.when, c.ok, got)
		}
	}
	if _, err := Runs("sometimes", true); err == nil {
		t.Error("unknown when accepted")
	}
}

func TestBuildFormats(t *testing.T) {
	proj := t.TempDir()
	os.MkdirAll(filepath.Join(proj, "out"), 0o755)
	os.WriteFile(filepath.Join(proj, "out/a.txt"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(proj, "report.xml"), []byte("<testsuites/>"), 0o644)
	tmp := t.TempDir()
	arc, _, err := Build(context.Background(), proj, tmp, jobspec.Artifact{Paths: []string{"out/"}})
	if err != nil || arc == nil || arc.Format != "zip" {
		t.Fatalf("zip: %+v, %v", arc, err)
	}
	b, _ := os.ReadFile(arc.Path)
	if !bytes.HasPrefix(b, []byte("PK")) {
		t.Error("zip archive does not start with PK")
	}
	arc, _, err = Build(context.Background(), proj, tmp, jobspec.Artifact{Paths: []string{"report.xml"}, ArtifactFormat: "raw"})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(arc.Path); string(b) != "<testsuites/>" {
		t.Errorf("raw archive = %q", b)
	}
	arc, sel, err := Build(context.Background(), proj, tmp, jobspec.Artifact{Paths: []string{"nothing/"}})
	if err != nil || arc != nil || len(sel.Messages) == 0 {
		t.Errorf("empty selection: %+v %+v %v", arc, sel, err)
	}
	if _, _, err := Build(context.Background(), proj, tmp, jobspec.Artifact{Paths: []string{"out"}, ArtifactFormat: "tarzstd"}); err == nil {
		t.Error("unsupported format accepted")
	}
}
