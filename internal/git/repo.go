package git

import (
	"bytes"
	"context"
	"fmt"
	"strings"
)

// Repo is one project's bare repository. It is a cheap handle: every method runs git
// and keeps no state between calls, so a Repo is safe for concurrent use and sees
// pushes made after it was opened. Methods that take a revision accept a hexadecimal
// object name (at least 4 digits) or a ref name, short (`main`, `v1.0`) or full
// (`refs/heads/main`), resolved the way git resolves it; git's revision syntax
// (`main~1`, `@{1}`, `:/text`) is refused with ErrInvalidRef.
type Repo struct {
	path string // project full path, as given
	dir  string // absolute repository directory
	git  gitExec
	tmp  string // scratch directory for temporary index files
}

// Path returns the project full path the repository was opened with.
func (r *Repo) Path() string { return r.path }

// Dir returns the repository's directory on disk.
func (r *Repo) Dir() string { return r.dir }

func (r *Repo) run(ctx context.Context, args ...string) ([]byte, error) {
	return r.git.output(ctx, r.dir, nil, nil, args...)
}

// DefaultBranch returns the branch HEAD points to (`main`), which need not exist yet.
func (r *Repo) DefaultBranch(ctx context.Context) (string, error) {
	out, err := r.run(ctx, "symbolic-ref", "--quiet", "HEAD")
	if err != nil {
		return "", fmt.Errorf("reading default branch of %q: %w", r.path, err)
	}
	ref := strings.TrimSpace(string(out))
	branch, ok := strings.CutPrefix(ref, "refs/heads/")
	if !ok {
		return "", fmt.Errorf("reading default branch of %q: HEAD points to %q, not a branch", r.path, ref)
	}
	return branch, nil
}

// SetDefaultBranch points HEAD at branch. The branch need not exist yet (an empty
// repository's default branch); callers that require it check with ResolveRef first.
func (r *Repo) SetDefaultBranch(ctx context.Context, branch string) error {
	ref := "refs/heads/" + branch
	if err := ValidateRefName(ref, false); err != nil {
		return fmt.Errorf("setting default branch of %q: %w", r.path, err)
	}
	if _, err := r.run(ctx, "symbolic-ref", "HEAD", ref); err != nil {
		return fmt.Errorf("setting default branch of %q to %q: %w", r.path, branch, err)
	}
	return nil
}

// ResolveRef returns the commit SHA that rev names (an annotated tag is peeled to its
// commit). It fails with ErrUnknownRevision when rev names no commit.
func (r *Repo) ResolveRef(ctx context.Context, rev string) (string, error) {
	if err := validRevision(rev); err != nil {
		return "", fmt.Errorf("resolving %q in %q: %w", rev, r.path, err)
	}
	out, err := r.run(ctx, "rev-parse", "--verify", "--quiet", "--end-of-options", rev+"^{commit}")
	if exitCode(err) == 1 {
		return "", fmt.Errorf("resolving %q in %q: %w", rev, r.path, ErrUnknownRevision)
	}
	if err != nil {
		return "", fmt.Errorf("resolving %q in %q: %w", rev, r.path, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// UpdateRef points the full ref name ref (`refs/pipelines/42`) at newSHA, a full
// object name that must exist in the repository. oldSHA makes it a compare-and-swap:
// "" updates whatever the ref holds, ZeroSHA requires that the ref does not exist
// yet, and a SHA requires that the ref holds it; a mismatch fails with ErrRefChanged
// and changes nothing.
func (r *Repo) UpdateRef(ctx context.Context, ref, newSHA, oldSHA string) error {
	if err := ValidateRefName(ref, false); err != nil {
		return fmt.Errorf("updating ref in %q: %w", r.path, err)
	}
	if !isFullSHA(newSHA) || IsZeroSHA(newSHA) {
		return fmt.Errorf("updating %s in %q: new value %q: %w: need a full object name", ref, r.path, newSHA, ErrInvalidRef)
	}
	if oldSHA != "" && !isFullSHA(oldSHA) {
		return fmt.Errorf("updating %s in %q: old value %q: %w: need a full object name", ref, r.path, oldSHA, ErrInvalidRef)
	}
	args := []string{"update-ref", "--no-deref", "-m", "kiln", ref, newSHA}
	if oldSHA != "" {
		args = append(args, oldSHA)
	}
	if _, err := r.run(ctx, args...); err != nil {
		return r.refError(ctx, "updating", ref, oldSHA, err)
	}
	return nil
}

// DeleteRef deletes the full ref name ref. oldSHA, when not "", requires that the ref
// holds it (ErrRefChanged otherwise). Deleting a ref that does not exist succeeds
// when oldSHA is "".
func (r *Repo) DeleteRef(ctx context.Context, ref, oldSHA string) error {
	if err := ValidateRefName(ref, false); err != nil {
		return fmt.Errorf("deleting ref in %q: %w", r.path, err)
	}
	if oldSHA != "" && (!isFullSHA(oldSHA) || IsZeroSHA(oldSHA)) {
		return fmt.Errorf("deleting %s in %q: old value %q: %w: need a full object name", ref, r.path, oldSHA, ErrInvalidRef)
	}
	args := []string{"update-ref", "--no-deref", "-d", ref}
	if oldSHA != "" {
		args = append(args, oldSHA)
	}
	if _, err := r.run(ctx, args...); err != nil {
		return r.refError(ctx, "deleting", ref, oldSHA, err)
	}
	return nil
}

// refError explains a failed update-ref: when the caller's expected old value no
// longer matches, the error wraps ErrRefChanged.
func (r *Repo) refError(ctx context.Context, verb, ref, oldSHA string, err error) error {
	if oldSHA != "" {
		current, lookErr := r.refValue(ctx, ref)
		if lookErr == nil && current != oldSHA && !(current == "" && IsZeroSHA(oldSHA)) {
			if current == "" {
				current = "nothing"
			}
			return fmt.Errorf("%s %s in %q: expected %s, found %s: %w", verb, ref, r.path, oldSHA, current, ErrRefChanged)
		}
	}
	return fmt.Errorf("%s %s in %q: %w", verb, ref, r.path, err)
}

// refValue returns the object name ref holds, or "" when it does not exist.
func (r *Repo) refValue(ctx context.Context, ref string) (string, error) {
	out, err := r.run(ctx, "rev-parse", "--verify", "--quiet", "--end-of-options", ref)
	if exitCode(err) == 1 {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// Ref is a branch or tag.
type Ref struct {
	Name     string // short name: `main`, `v1.0`
	FullName string // `refs/heads/main`, `refs/tags/v1.0`
	SHA      string // the commit it points to (an annotated tag peeled)
	// TagSHA is the tag object of an annotated tag; "" for branches and lightweight tags.
	TagSHA string
}

// Branches lists the branches, sorted by name.
func (r *Repo) Branches(ctx context.Context) ([]Ref, error) {
	return r.listRefs(ctx, "refs/heads/")
}

// Tags lists the tags, sorted by name.
func (r *Repo) Tags(ctx context.Context) ([]Ref, error) {
	return r.listRefs(ctx, "refs/tags/")
}

func (r *Repo) listRefs(ctx context.Context, prefix string) ([]Ref, error) {
	out, err := r.run(ctx, "for-each-ref", "--sort=refname",
		"--format=%(refname)%00%(objectname)%00%(objecttype)%00%(*objectname)", prefix)
	if err != nil {
		return nil, fmt.Errorf("listing %s in %q: %w", prefix, r.path, err)
	}
	var refs []Ref
	for line := range bytes.SplitSeq(bytes.TrimRight(out, "\n"), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		f := strings.Split(string(line), "\x00")
		if len(f) != 4 {
			return nil, fmt.Errorf("listing %s in %q: unexpected line %q", prefix, r.path, line)
		}
		ref := Ref{FullName: f[0], Name: strings.TrimPrefix(f[0], prefix), SHA: f[1]}
		if f[2] == "tag" {
			ref.TagSHA, ref.SHA = f[1], f[3]
		}
		refs = append(refs, ref)
	}
	return refs, nil
}
