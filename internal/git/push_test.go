package git

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestPushCreatingABranchAndTagsFiresOnPush(t *testing.T) {
	s := newTestServer(t, nil)
	c := newClient(t)
	s.seed(c, "group/project", map[string]string{"a.txt": "a"})

	dst := filepath.Join(t.TempDir(), "clone")
	c.must("", "clone", "--quiet", s.url("group/project", "alice", "alice-secret-token"), dst)
	c.must(dst, "checkout", "--quiet", "-b", "feature")
	sha := c.commit(dst, "Feature work", map[string]string{"b.txt": "b"})
	c.must(dst, "tag", "-a", "-m", "Release 1.0", "v1.0")
	c.must(dst, "tag", "light")
	tagObject := c.must(dst, "rev-parse", "v1.0")
	c.must(dst, "push", "--quiet", "origin", "feature", "v1.0", "light")

	pushes := s.recordedPushes()
	if len(pushes) != 1 {
		t.Fatalf("OnPush called %d times, want once:\n%s", len(pushes), fmtPushes(pushes))
	}
	p := pushes[0]
	if p.Project != "group/project" || p.Pusher != "user:alice" {
		t.Errorf("push of %q by %q, want group/project by user:alice", p.Project, p.Pusher)
	}
	got := slices.Clone(p.Updates)
	slices.SortFunc(got, func(a, b RefUpdate) int { return strings.Compare(a.Ref, b.Ref) })
	want := []RefUpdate{
		{Ref: "refs/heads/feature", OldSHA: ZeroSHA, NewSHA: sha},
		{Ref: "refs/tags/light", OldSHA: ZeroSHA, NewSHA: sha},
		{Ref: "refs/tags/v1.0", OldSHA: ZeroSHA, NewSHA: tagObject},
	}
	if !slices.Equal(got, want) {
		t.Errorf("updates = %+v\nwant      %+v", got, want)
	}
	if b, ok := got[0].Branch(); !ok || b != "feature" || !got[0].Created() || got[0].Deleted() {
		t.Errorf("branch update helpers: %q %v created=%v deleted=%v", b, ok, got[0].Created(), got[0].Deleted())
	}
	if tag, ok := got[2].Tag(); !ok || tag != "v1.0" {
		t.Errorf("Tag() = %q, %v", tag, ok)
	}
	if left, _ := os.ReadDir(s.repos.pushesDir()); len(left) != 0 {
		t.Errorf("delivered push records left behind: %v", left)
	}
}

func TestPushUpdatingAndDeletingBranchesReportsOldAndNewSHAs(t *testing.T) {
	s := newTestServer(t, nil)
	c := newClient(t)
	s.seed(c, "group/project", map[string]string{"a.txt": "a"})
	dst := filepath.Join(t.TempDir(), "clone")
	c.must("", "clone", "--quiet", s.url("group/project", "alice", "alice-secret-token"), dst)
	old := c.must(dst, "rev-parse", "HEAD")
	c.must(dst, "push", "--quiet", "origin", "HEAD:refs/heads/doomed")

	next := c.commit(dst, "Next", map[string]string{"a.txt": "b"})
	c.must(dst, "push", "--quiet", "origin", "main", ":doomed")

	pushes := s.recordedPushes()
	if len(pushes) != 2 {
		t.Fatalf("OnPush called %d times, want 2:\n%s", len(pushes), fmtPushes(pushes))
	}
	got := slices.Clone(pushes[1].Updates)
	slices.SortFunc(got, func(a, b RefUpdate) int { return strings.Compare(a.Ref, b.Ref) })
	want := []RefUpdate{
		{Ref: "refs/heads/doomed", OldSHA: old, NewSHA: ZeroSHA},
		{Ref: "refs/heads/main", OldSHA: old, NewSHA: next},
	}
	if !slices.Equal(got, want) {
		t.Errorf("updates = %+v\nwant      %+v", got, want)
	}
	if !got[0].Deleted() {
		t.Error("deleted branch not reported as Deleted")
	}
}

func TestRejectedPushesAnnounceNothing(t *testing.T) {
	s := newTestServer(t, nil)
	c := newClient(t)
	repo, _ := s.seed(c, "group/project", map[string]string{"a.txt": "a"})
	dst := filepath.Join(t.TempDir(), "clone")
	c.must("", "clone", "--quiet", s.url("group/project", "alice", "alice-secret-token"), dst)

	// A ref in GitLab's internal namespaces cannot be pushed.
	if out, err := c.run(dst, nil, "push", "origin", "HEAD:refs/pipelines/1"); err == nil {
		t.Errorf("push to refs/pipelines/1 succeeded:\n%s", out)
	}
	if _, err := repo.ResolveRef(context.Background(), "refs/pipelines/1"); !errors.Is(err, ErrUnknownRevision) {
		t.Errorf("refs/pipelines/1 exists after a refused push (%v)", err)
	}

	// A non-fast-forward push is refused by git.
	c.must(dst, "commit", "--quiet", "--amend", "-m", "rewritten")
	if out, err := c.run(dst, nil, "push", "origin", "main"); err == nil {
		t.Errorf("non-fast-forward push succeeded:\n%s", out)
	}
	if ps := s.recordedPushes(); len(ps) != 0 {
		t.Errorf("OnPush called for refused pushes:\n%s", fmtPushes(ps))
	}
}

func TestConcurrentPushesEachAnnounceOnlyTheirOwnRefs(t *testing.T) {
	s := newTestServer(t, nil)
	c := newClient(t)
	s.seed(c, "group/project", map[string]string{"a.txt": "a"})
	const n = 6
	clones := make([]string, n)
	want := map[string]string{} // ref -> sha
	for i := range n {
		clones[i] = filepath.Join(t.TempDir(), "clone")
		c.must("", "clone", "--quiet", s.url("group/project", "alice", "alice-secret-token"), clones[i])
		branch := fmt.Sprintf("branch-%d", i)
		c.must(clones[i], "checkout", "--quiet", "-b", branch)
		want["refs/heads/"+branch] = c.commit(clones[i], branch, map[string]string{branch + ".txt": branch})
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			out, err := c.run(clones[i], nil, "push", "--quiet", "origin", fmt.Sprintf("branch-%d", i))
			if err != nil {
				errs[i] = fmt.Errorf("%v: %s", err, out)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
	}
	pushes := s.recordedPushes()
	if len(pushes) != n {
		t.Fatalf("OnPush called %d times, want %d:\n%s", len(pushes), n, fmtPushes(pushes))
	}
	for _, p := range pushes {
		if len(p.Updates) != 1 {
			t.Errorf("a push announced %d refs, want exactly its own one:\n%s", len(p.Updates), fmtPushes([]Push{p}))
			continue
		}
		u := p.Updates[0]
		if want[u.Ref] != u.NewSHA || u.OldSHA != ZeroSHA {
			t.Errorf("announced %s %s..%s, want %s", u.Ref, u.OldSHA, u.NewSHA, want[u.Ref])
		}
		delete(want, u.Ref)
	}
	if len(want) != 0 {
		t.Errorf("pushes never announced: %v", want)
	}
}

func TestFailedAnnouncementIsKeptAndReplayed(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	var mu sync.Mutex
	var delivered []Push
	s := newTestServer(t, func(_ context.Context, p Push) error {
		if fail.Load() {
			return errors.New("database is down")
		}
		mu.Lock()
		defer mu.Unlock()
		delivered = append(delivered, p)
		return nil
	})
	c := newClient(t)
	s.seed(c, "group/project", map[string]string{"a.txt": "a"})
	dst := filepath.Join(t.TempDir(), "clone")
	c.must("", "clone", "--quiet", s.url("group/project", "alice", "alice-secret-token"), dst)
	sha := c.commit(dst, "change", map[string]string{"a.txt": "b"})
	c.must(dst, "push", "--quiet", "origin", "main") // the push itself succeeds

	if n, err := s.handler.ReplayPushes(context.Background()); n != 0 || err == nil {
		t.Fatalf("replay while OnPush fails = %d, %v; want 0 and an error", n, err)
	}
	fail.Store(false)
	if n, err := s.handler.ReplayPushes(context.Background()); n != 1 || err != nil {
		t.Fatalf("replay = %d, %v; want 1, nil", n, err)
	}
	if len(delivered) != 1 || delivered[0].Updates[0].NewSHA != sha || delivered[0].Pusher != "user:alice" {
		t.Fatalf("delivered %s", fmtPushes(delivered))
	}
	if n, err := s.handler.ReplayPushes(context.Background()); n != 0 || err != nil {
		t.Errorf("second replay = %d, %v; want nothing left", n, err)
	}
}

func TestReplaySurvivesARestartAndSkipsBrokenRecords(t *testing.T) {
	s := newTestServer(t, nil)
	dir := s.repos.pushesDir()
	good := "project group/project\npusher user:alice\n" + ZeroSHA + " " + strings.Repeat("a", 40) + " refs/heads/main\n"
	files := map[string]string{
		"00000000000000000001-A":     good,
		"00000000000000000002-B":     "project ../etc\npusher x\n" + ZeroSHA + " " + ZeroSHA + " refs/heads/x\n",
		"00000000000000000003-C.tmp": "project group/project\npusher",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A new Handler over the same root is a restarted server.
	h, err := NewHandler(HandlerConfig{Repos: s.repos, Authorizer: s.auth, OnPush: func(_ context.Context, p Push) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.pushes = append(s.pushes, p)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := h.ReplayPushes(context.Background())
	if n != 1 || err == nil || !strings.Contains(err.Error(), "invalid project path") {
		t.Errorf("replay = %d, %v; want 1 delivered and the bad record reported", n, err)
	}
	if ps := s.recordedPushes(); len(ps) != 1 || ps[0].Updates[0].Ref != "refs/heads/main" {
		t.Errorf("delivered %s", fmtPushes(ps))
	}
	left, _ := os.ReadDir(dir)
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"00000000000000000002-B.bad"}) {
		t.Errorf("records left = %v, want only the bad one set aside", names)
	}
}

// TestLargePushStreamsAChunkedBody pushes more than git's 1 MiB post buffer, so git
// sends the pack with chunked transfer encoding, which net/http/cgi alone refuses.
func TestLargePushStreamsAChunkedBody(t *testing.T) {
	s := newTestServer(t, nil)
	c := newClient(t)
	repo, _ := s.seed(c, "group/project", map[string]string{"a.txt": "a"})
	dst := filepath.Join(t.TempDir(), "clone")
	c.must("", "clone", "--quiet", s.url("group/project", "alice", "alice-secret-token"), dst)
	big := make([]byte, 8<<20)
	rand.Read(big) // incompressible
	sha := c.commit(dst, "big file", map[string]string{"big.bin": string(big)})
	c.must(dst, "push", "--quiet", "origin", "main")

	chunked := false
	for _, r := range s.requests() {
		if r.Path == "/group/project.git/git-receive-pack" {
			chunked = chunked || r.Chunked
		}
	}
	if !chunked {
		t.Error("the push was not sent chunked; the test does not exercise streaming")
	}
	got, err := repo.ReadFile(context.Background(), "main", "big.bin")
	if err != nil || len(got) != len(big) || string(got[:64]) != string(big[:64]) {
		t.Fatalf("big.bin on the server: %d bytes, %v", len(got), err)
	}
	if ps := s.recordedPushes(); len(ps) != 1 || ps[0].Updates[0].NewSHA != sha {
		t.Errorf("pushes = %s", fmtPushes(ps))
	}
}

func TestMaxPushBytesRefusesLargerPacks(t *testing.T) {
	repos := newTestManager(t)
	h, err := NewHandler(HandlerConfig{Repos: repos, Authorizer: &testAuth{}, MaxPushBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	url := newServerFor(t, h)
	c := newClient(t)
	repo, err := repos.Create(context.Background(), "group/project", CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wt := c.workTree(map[string]string{"a.txt": "a"})
	big := make([]byte, 1<<20)
	rand.Read(big)
	c.commit(wt, "big", map[string]string{"big.bin": string(big)})
	out, err := c.run(wt, nil, "push", strings.Replace(url, "http://", "http://alice:alice-secret-token@", 1)+"/group/project.git", "main")
	if err == nil {
		t.Fatalf("a push over the limit succeeded:\n%s", out)
	}
	if _, err := repo.ResolveRef(context.Background(), "main"); !errors.Is(err, ErrUnknownRevision) {
		t.Errorf("main exists after the refused push (%v)", err)
	}
}

func TestFirstPushIntoAnEmptyRepositoryCreatesTheDefaultBranch(t *testing.T) {
	s := newTestServer(t, nil)
	c := newClient(t)
	repo, err := s.repos.Create(context.Background(), "group/empty", CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "clone")
	out := c.must("", "clone", s.url("group/empty", "alice", "alice-secret-token"), dst)
	if !strings.Contains(out, "empty repository") {
		t.Logf("clone of an empty repository said: %s", out)
	}
	sha := c.commit(dst, "first", map[string]string{"README.md": "hi"})
	c.must(dst, "push", "--quiet", "origin", "HEAD:main")

	if got, err := repo.ResolveRef(context.Background(), "main"); err != nil || got != sha {
		t.Errorf("main = %s, %v; want %s", got, err, sha)
	}
	ps := s.recordedPushes()
	if len(ps) != 1 || len(ps[0].Updates) != 1 || !ps[0].Updates[0].Created() || ps[0].Updates[0].NewSHA != sha {
		t.Errorf("pushes = %s", fmtPushes(ps))
	}
}
