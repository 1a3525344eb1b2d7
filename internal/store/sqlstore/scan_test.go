package sqlstore

import (
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/store"
)

func TestAJobRowScansIntoOneDestinationPerColumn(t *testing.T) {
	for name, cols := range map[string]string{"jobCols": jobCols, "jobColsNoPayload": jobColsNoPayload} {
		if n := len(strings.Split(cols, ",")); n != jobColCount {
			t.Errorf("%s has %d columns, want jobColCount = %d", name, n, jobColCount)
		}
	}
	if n := len(jobDest(&store.Job{})); n != jobColCount {
		t.Errorf("jobDest has %d destinations, want %d", n, jobColCount)
	}
	if n, m := len(strings.Split(pipelineCols, ",")), len(pipelineDest(&store.Pipeline{})); n != m {
		t.Errorf("pipelineCols has %d columns but pipelineDest %d destinations", n, m)
	}
}
