package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/runner/config"
)

// userDocs are the documents a new user reads; their examples must stay true.
var userDocs = []string{"../../README.md", "../../docs/kiln-up.md", "../../docs/configuration.md"}

var fence = regexp.MustCompile("(?s)```(\\w*)\\n(.*?)```")

// blocks returns the fenced blocks of the user documents in language lang.
func blocks(t *testing.T, lang string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, doc := range userDocs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range fence.FindAllStringSubmatch(string(b), -1) {
			if m[1] == lang {
				out[doc] = append(out[doc], m[2])
			}
		}
	}
	return out
}

func TestTheDocsConfigTomlExamplesLoad(t *testing.T) {
	n := 0
	for doc, tomls := range blocks(t, "toml") {
		for i, text := range tomls {
			path := filepath.Join(t.TempDir(), "config.toml")
			if !strings.Contains(text, "[[runners]]") {
				if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
					t.Fatal(err)
				}
				if _, err := loadCatalog(path); err != nil {
					t.Errorf("%s, TOML block %d (machine types): %v", doc, i+1, err)
				}
			} else if _, err := config.Parse(path, []byte(text)); err != nil {
				t.Errorf("%s, TOML block %d (config.toml): %v", doc, i+1, err)
			}
			n++
		}
	}
	if n < 3 {
		t.Errorf("found %d TOML examples, want the README's and docs/configuration.md's", n)
	}
}

func TestTheDocsPipelineExamplesAreValid(t *testing.T) {
	all := blocks(t, "yaml")
	if len(all["../../README.md"]) == 0 {
		t.Error("the README shows no pipeline")
	}
	for doc, yamls := range all {
		for i, text := range yamls {
			dir := writeRepo(t, map[string]string{".gitlab-ci.yml": text})
			if out, stderr, code := lint(t, "-C", dir); code != 0 {
				t.Errorf("%s, YAML block %d: kiln lint exit %d\n%s%s", doc, i+1, code, out, stderr)
			}
		}
	}
}

func TestTheReadmesMachineTypeTableIsTheDefaultCatalog(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if tag, _, ok := strings.Cut(strings.TrimPrefix(line, "| `"), "`"); ok && strings.HasPrefix(line, "| `saas-") {
			rows[tag] = strings.ReplaceAll(line, " ", "")
		}
	}
	for _, mt := range machine.Defaults() {
		row, ok := rows[mt.Tag]
		want := fmt.Sprintf("|%d|%dGB|%dGB|", mt.VCPU, mt.MemoryBytes/machine.GB, mt.DiskBytes/machine.GB)
		cost := fmt.Sprintf("|%g|", mt.CostFactor)
		if !ok || !strings.Contains(row, want) || !strings.Contains(row, cost) {
			t.Errorf("README's row of %s is %q; want %s and cost factor %s", mt.Tag, row, want, cost)
		}
	}
}

func TestTheDocsLinksPointAtFilesThatExist(t *testing.T) {
	link := regexp.MustCompile(`\]\(([^)#:]+)\)`)
	for _, doc := range userDocs {
		b, _ := os.ReadFile(doc)
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			if _, err := os.Stat(filepath.Join(filepath.Dir(doc), m[1])); err != nil {
				t.Errorf("%s links to %s: %v", doc, m[1], err)
			}
		}
	}
}
