package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/store"
)

// adminTokenFile holds, in kiln up's data directory, the administrator's personal
// access token (mode 0600), so that a restart prints the same instructions.
const adminTokenFile = "admin-token"

// loadOrCreateToken returns the token kept at path, or makes one and keeps it there.
// A file that exists but does not hold a usable token is an error, not replaced: the
// data it belongs to would be locked out.
func loadOrCreateToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		tok := strings.TrimSpace(string(b))
		if len(tok) < 20 || strings.ContainsAny(tok, " \t\r\n") {
			return "", fmt.Errorf("%s does not hold a personal access token (20 or more characters without spaces)", path)
		}
		return tok, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("reading the administrator token: %w", err)
	}
	tok, err := store.NewToken(store.PrefixPersonalAccessToken)
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("keeping the administrator token: %w", err)
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return "", fmt.Errorf("keeping the administrator token: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("keeping the administrator token: %w", err)
	}
	return tok, nil
}

// instructions are what kiln up prints once it serves.
type instructions struct {
	url, token, dataDir, executor string
	// missingImage is the Docker executor's default image when the daemon lacks it.
	missingImage string
	runners      []servedRunner
	plan         upPlan
	self         string // how to run this kiln, e.g. "kiln" or "./bin/kiln"
}

// printInstructions says where Kiln is and how to use it: the web UI, the token, the
// runners, how to push a project and how to use the client commands.
func printInstructions(w io.Writer, in instructions) {
	host := strings.TrimPrefix(strings.TrimPrefix(in.url, "http://"), "https://")
	scheme := strings.TrimSuffix(in.url, host)
	fmt.Fprintf(w, "Kiln is up: the coordinator and its runners in this process, data in %s\n\n", in.dataDir)
	fmt.Fprintf(w, "  Web UI    %s (sign in with the token)\n", in.url)
	fmt.Fprintf(w, "  API       %s/api/v4\n", in.url)
	fmt.Fprintf(w, "  Admin     %s, personal access token %s (kept in %s)\n", upAdminUser, in.token,
		filepath.Join(in.dataDir, adminTokenFile))
	for _, r := range in.runners {
		what := "untagged jobs"
		if r.machineType != machine.TagSmall {
			what = "jobs tagged " + r.machineType
		}
		fmt.Fprintf(w, "  Runner    #%d, %s executor, machine type %s: %s, %d at once\n", r.id, in.executor, r.machineType, what, r.jobs)
	}
	if in.missingImage != "" {
		fmt.Fprintf(w, "  Image     %s, for jobs that name none, is not on this host: it will be pulled\n"+
			"            (without a registry, give --docker-image a local image, e.g. kiln-test/debian:bookworm\n"+
			"            from scripts/test-images.sh)\n", in.missingImage)
	}
	if in.plan.gpuJobs == 0 {
		if in.plan.gpus == 0 {
			fmt.Fprintf(w, "  GPUs      none on this host: jobs of %s fail at once\n", machine.TagGPUMedium)
		} else {
			fmt.Fprintf(w, "  GPUs      %d on this host, none fits %s: its jobs fail at once\n", in.plan.gpus, machine.TagGPUMedium)
		}
	}
	fmt.Fprintf(w, `
Push a project; each push runs its .gitlab-ci.yml:
  export KILN_URL=%[1]s KILN_TOKEN=%[2]s
  %[3]s project create hello
  git remote add kiln %[4]s%[5]s:%[2]s@%[6]s/%[5]s/hello.git
  git push kiln HEAD:main

Follow it with the client commands (they read KILN_URL and KILN_TOKEN):
  %[3]s pipeline list -p %[5]s/hello
  %[3]s pipeline show -p %[5]s/hello PIPELINE_ID
  %[3]s job log -f -p %[5]s/hello JOB_ID

Ctrl-C stops Kiln.
`, in.url, in.token, in.self, scheme, upAdminUser, host)
}

// selfCommand is how a person runs this kiln again: "kiln" when that is what PATH
// finds, "go run ./cmd/kiln" under go run, else the executable's path.
func selfCommand() string {
	exe, err := os.Executable()
	if err != nil {
		return "kiln"
	}
	if strings.Contains(exe, string(filepath.Separator)+"go-build") {
		return "go run ./cmd/kiln"
	}
	if found, err := exec.LookPath("kiln"); err == nil {
		if a, err1 := filepath.EvalSymlinks(found); err1 == nil {
			if b, err2 := filepath.EvalSymlinks(exe); err2 == nil && a == b {
				return "kiln"
			}
		}
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, exe); err == nil && !strings.HasPrefix(rel, "..") {
			return "." + string(filepath.Separator) + rel
		}
	}
	return exe
}
