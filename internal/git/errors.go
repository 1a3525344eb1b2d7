package git

import "errors"

// Errors callers branch on. Returned errors wrap them with context; test with errors.Is.
var (
	// ErrInvalidPath: a project full path breaks GitLab's path rules.
	ErrInvalidPath = errors.New("invalid project path")
	// ErrNotFound: no repository exists for the project. An Authorizer returns it
	// for a project the caller may not know about (answered 404).
	ErrNotFound = errors.New("repository not found")
	// ErrExists: a repository already exists at the target path.
	ErrExists = errors.New("repository already exists")
	// ErrInvalidRef: a ref name or revision breaks git's ref name rules, or a SHA is
	// not a full hexadecimal object name where one is required.
	ErrInvalidRef = errors.New("invalid ref")
	// ErrUnknownRevision: a ref or SHA does not name a commit in the repository.
	ErrUnknownRevision = errors.New("unknown revision")
	// ErrRefChanged: a ref update's expected old value did not match the ref.
	ErrRefChanged = errors.New("ref changed concurrently")
	// ErrNoBase: ChangedFiles was given the zero SHA as its before commit (a new
	// branch or tag). GitLab then treats every rules:changes entry as matching.
	ErrNoBase = errors.New("no before commit to compare with")
)
