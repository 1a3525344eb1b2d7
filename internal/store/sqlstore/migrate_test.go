package sqlstore

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadMigrationsWantsNumberedFilesWithoutGaps(t *testing.T) {
	file := &fstest.MapFile{Data: []byte("SELECT 1;")}
	ms, err := loadMigrations(fstest.MapFS{"0002_more.sql": file, "0001_init.sql": file, "README.md": file})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].name != "init" || ms[1].version != 2 {
		t.Errorf("loaded %+v", ms)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"gap":      {"0001_init.sql": file, "0003_skip.sql": file},
		"bad name": {"0001_Init.sql": file},
		"no zero":  {"1_init.sql": file},
		"starts 2": {"0002_init.sql": file},
	} {
		if _, err := loadMigrations(fsys); err == nil {
			t.Errorf("%s: loaded without an error", name)
		} else if !strings.Contains(err.Error(), ".sql") {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
	}
}
