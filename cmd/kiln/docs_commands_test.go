package main

import (
	"strings"
	"testing"
)

// docCommandLines returns the kiln command lines of the user documents' sh blocks,
// as words: continuation lines joined, comments and leading VAR=value assignments
// dropped. Synopsis lines with [optional] parts are left out.
func docCommandLines(t *testing.T) map[string][][]string {
	t.Helper()
	out := map[string][][]string{}
	for doc, shs := range blocks(t, "sh") {
		for _, block := range shs {
			for _, line := range strings.Split(strings.ReplaceAll(block, "\\\n", " "), "\n") {
				if i := strings.Index(line, " #"); i >= 0 {
					line = line[:i]
				}
				fields := shellFields(line)
				for len(fields) > 0 && strings.Contains(fields[0], "=") {
					fields = fields[1:]
				}
				if len(fields) == 0 || fields[0] != "kiln" || strings.Contains(line, "[") {
					continue
				}
				out[doc] = append(out[doc], fields)
			}
		}
	}
	return out
}

// shellFields splits a command line into words, keeping "quoted words" whole.
func shellFields(line string) []string {
	var words []string
	var cur strings.Builder
	quote, in := byte(0), false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			cur.WriteByte(c)
		case c == '"' || c == '\'':
			quote, in = c, true
		case c == ' ' || c == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// TestTheDocsCommandLinesParse keeps the documents' kiln command lines true to the
// command: each names a command that exists, with flags it has and the arguments
// it takes. (What the commands then do is tested where they are.)
func TestTheDocsCommandLinesParse(t *testing.T) {
	n := 0
	for doc, lines := range docCommandLines(t) {
		for _, words := range lines {
			n++
			line := strings.Join(words, " ")
			root := newRootCmd()
			cmd, rest, err := root.Find(words[1:])
			if err != nil {
				t.Errorf("%s: %q: %v", doc, line, err)
				continue
			}
			if err := cmd.ParseFlags(rest); err != nil {
				t.Errorf("%s: %q: %v", doc, line, err)
				continue
			}
			if cmd.Args != nil {
				if err := cmd.Args(cmd, cmd.Flags().Args()); err != nil {
					t.Errorf("%s: %q: %v", doc, line, err)
				}
			}
			if !cmd.Runnable() {
				t.Errorf("%s: %q names a command group, not a command", doc, line)
			}
		}
	}
	t.Logf("checked %d command lines", n)
	if n < 10 {
		t.Errorf("found %d kiln command lines in the documents; the parser lost them", n)
	}
}

func TestDocCommandLinesAreFoundAndCheckedForReal(t *testing.T) {
	root := newRootCmd()
	cmd, rest, _ := root.Find(shellFields(`kiln lint -C examples --no-such-flag`)[1:])
	if err := cmd.ParseFlags(rest); err == nil {
		t.Error("an unknown flag parsed")
	}
	if got := shellFields(`kiln runner create --description "gpu host 1" --machine-type x`); len(got) != 7 || got[4] != "gpu host 1" {
		t.Errorf("shellFields = %q", got)
	}
}
