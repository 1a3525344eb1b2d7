// Package version reports what build of Kiln is running. Any package may import it.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version and Revision are set at build time with
// -ldflags "-X github.com/kiln-ci/kiln/internal/version.Version=v0.1.0 -X ...Revision=<sha>".
var (
	Version  = "0.1.0-dev"
	Revision = ""
)

// Rev returns the source revision: the linker's, else the one Go stamped from VCS, else "unknown".
func Rev() string {
	if Revision != "" {
		return Revision
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 8 {
				return s.Value[:8]
			}
		}
	}
	return "unknown"
}

// String is the one-line version, e.g. "kiln 0.1.0 (abcdef12; go1.26.8; linux/amd64)".
func String() string {
	return fmt.Sprintf("kiln %s (%s; %s; %s/%s)", Version, Rev(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
