package main

import (
	"strings"
	"testing"
)

func TestAnUnknownSubcommandOfAGroupIsAnError(t *testing.T) {
	for _, args := range [][]string{{"job", "lst"}, {"runner", "list"}, {"gpu", "lsit"}, {"pipeline", "shwo", "1"}} {
		out, err := runKiln(t, args...)
		want := `unknown command "` + args[1] + `" for "kiln ` + args[0] + `"`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("kiln %s: err = %v, want %q (output %q)", strings.Join(args, " "), err, want, out)
		}
	}
}

func TestAGroupWithoutArgumentsPrintsItsHelp(t *testing.T) {
	for _, group := range []string{"job", "runner", "gpu", "pipeline", "project"} {
		out, err := runKiln(t, group)
		if err != nil || !strings.Contains(out, "Available Commands:") {
			t.Errorf("kiln %s: err = %v, output:\n%s", group, err, out)
		}
	}
}
