package jobspec_test

import (
	"fmt"

	"github.com/kiln-ci/kiln/internal/jobspec"
)

// The compiler fills a job payload's variables as GitLab does: known references
// expanded, the rest left for the runner, which expands once more.
func ExampleVariables_ForRunner() {
	vs := jobspec.Variables{
		{Key: "CI_PROJECT_DIR", Value: "/builds/group/project"},
		{Key: "OUT", Value: "$CI_PROJECT_DIR/out"},
		{Key: "HOME_BIN", Value: "$HOME/bin"},
		{Key: "LITERAL", Value: "$OUT", Raw: true},
	}
	sent, err := vs.ForRunner()
	if err != nil {
		panic(err)
	}
	for _, v := range sent {
		fmt.Printf("%s=%s\n", v.Key, v.Value)
	}
	// Output:
	// CI_PROJECT_DIR=/builds/group/project
	// OUT=/builds/group/project/out
	// HOME_BIN=$HOME/bin
	// LITERAL=$OUT
}

func ExampleExpandExisting() {
	lookup := func(name string) (string, bool) {
		if name == "ARCH" {
			return "amd64", true
		}
		return "", false
	}
	fmt.Println(jobspec.ExpandExisting("gpu-$ARCH-$UNKNOWN", lookup))
	fmt.Println(jobspec.ExpandGitLab("gpu-$ARCH-$UNKNOWN", lookup))
	// Output:
	// gpu-amd64-$UNKNOWN
	// gpu-amd64-
}
