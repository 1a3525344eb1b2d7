package store

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestVariablesPrintAndLogWithoutTheirValues(t *testing.T) {
	const secret = "s3cr3t-Value-42"
	v := Variable{Owner: Instance, Key: "K", Value: secret}
	pv := PipelineVariable{Key: "P", Value: secret}
	var b strings.Builder
	log := slog.New(slog.NewTextHandler(&b, nil))
	log.Info("saved", "variable", v, "given", pv)
	for _, s := range []string{fmt.Sprint(v), fmt.Sprintf("%v %+v %s", pv, v, pv), fmt.Sprint([]Variable{v}), b.String()} {
		if strings.Contains(s, secret) {
			t.Errorf("%q reveals the value", s)
		}
		if !strings.Contains(s, "K") && !strings.Contains(s, "P") {
			t.Errorf("%q does not name the variable", s)
		}
	}
}

func TestTokensAreComparedByHash(t *testing.T) {
	tok, err := NewToken(PrefixRunnerToken)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "glrt-") || len(tok) != len("glrt-")+32 {
		t.Errorf("NewToken = %q, want glrt- and 32 characters", tok)
	}
	other, _ := NewToken(PrefixRunnerToken)
	if tok == other {
		t.Error("two tokens are equal")
	}
	h := HashToken(tok)
	if !TokenMatches(h, tok) || TokenMatches(h, other) || TokenMatches(h[:10], tok) || TokenMatches(nil, "") {
		t.Error("TokenMatches disagrees with the hash")
	}
}

func TestPageBounds(t *testing.T) {
	for _, c := range []struct {
		p             Page
		limit, offset int
	}{
		{Page{}, DefaultPageLimit, 0},
		{Page{Limit: 5, Offset: -3}, 5, 0},
		{Page{Limit: MaxPageLimit + 1, Offset: 7}, MaxPageLimit, 7},
	} {
		if l, o := c.p.Bounds(); l != c.limit || o != c.offset {
			t.Errorf("%+v.Bounds() = %d, %d; want %d, %d", c.p, l, o, c.limit, c.offset)
		}
	}
}

func TestCheckBlobKeyAcceptsOnlyRelativeSafePaths(t *testing.T) {
	for _, ok := range []string{"a", "projects/7/jobs/42/archive.zip", "x_y-z.1"} {
		if err := CheckBlobKey(ok); err != nil {
			t.Errorf("CheckBlobKey(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "/abs", "a//b", "../up", "a/../b", ".hidden", "a/.tmp/b", "a b", "a\\b", strings.Repeat("a", 1025)} {
		if err := CheckBlobKey(bad); err == nil {
			t.Errorf("CheckBlobKey(%q) accepted a bad key", bad)
		}
	}
}

func TestCheckChannel(t *testing.T) {
	for _, ok := range []string{"jobs", "kiln_jobs_pending", "a1"} {
		if err := CheckChannel(ok); err != nil {
			t.Errorf("CheckChannel(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "Jobs", "1a", "a-b", "a;drop", strings.Repeat("a", 41)} {
		if err := CheckChannel(bad); err == nil {
			t.Errorf("CheckChannel(%q) accepted a bad name", bad)
		}
	}
}

func TestAVariableKeyIsOneTo255LettersDigitsOrUnderscores(t *testing.T) {
	for key, want := range map[string]bool{
		"DEPLOY_TOKEN": true, "a1_": true, "_": true, strings.Repeat("K", 255): true,
		"": false, strings.Repeat("K", 256): false, "MY-VAR": false, "A B": false, "CLÉ": false, "K=V": false,
	} {
		if got := ValidVariableKey(key); got != want {
			t.Errorf("ValidVariableKey(%.20q) = %v, want %v", key, got, want)
		}
	}
}
