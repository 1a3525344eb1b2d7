// Package git hosts the coordinator's git repositories: bare repositories on disk, one
// per project, served to git clients over smart HTTP and read by the pipeline compiler.
//
// Everything here drives the real git binary (2.31 or newer): repositories are made
// with `git init --bare`, served by `git http-backend` through net/http/cgi, and read
// with `git cat-file`, `git ls-tree` and `git diff-tree`. Nothing reimplements git.
//
// The parts:
//
//   - [Manager] owns a root directory and creates, opens, renames and deletes the
//     repository of a project full path (`group/sub/project` is stored at
//     `<root>/group/sub/project.git`), checking GitLab's path rules first.
//   - [Repo] reads one repository: refs, commits ([Commit] carries what GitLab's
//     CI_COMMIT_* variables need), files at a commit, an [fs.FS] of a commit's tree
//     ([TreeFS]), the files changed between two commits, and updates refs such as
//     `refs/pipelines/<id>`.
//   - [Handler] serves `/<full path>.git/info/refs`, `git-upload-pack` and
//     `git-receive-pack`, asks an [Authorizer] whether the HTTP Basic caller may read
//     or write, and reports each successful push to a [PushFunc].
//
// This package is on the coordinator side: the runner side (internal/runner,
// internal/executor, internal/gpu) must not import it, and neither may the shared
// packages.
package git
