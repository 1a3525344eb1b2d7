package shell_test

import (
	"testing"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/executor/executortest"
	"github.com/kiln-ci/kiln/internal/executor/shell"
)

// BenchmarkJobTrue: go test -run '^$' -bench JobTrue -benchtime=50x ./internal/executor/shell/
func BenchmarkJobTrue(b *testing.B) {
	ex := shell.New(shell.Config{TempDir: b.TempDir()})
	executortest.BenchmarkJob(b, func(b *testing.B, spec executor.Spec) executor.Environment {
		env, err := ex.NewEnvironment(spec)
		if err != nil {
			b.Fatal(err)
		}
		return env
	})
}
