// Package coordinator is Kiln's domain logic behind `kiln server`: it turns pushes and
// API requests into pipelines, moves pipelines on by stages and the needs DAG, hands
// jobs to runners that fit them (tags, machine type, plan, free GPUs, quota), charges
// compute minutes, and keeps jobs honest (stuck runners, timeouts, delayed jobs).
// All state is in the store, so a restarted coordinator, or another replica on the
// same PostgreSQL, carries on where this one stopped.
//
// # The service surface
//
// HTTP handlers are thin: they authenticate, decode, call one Service method and
// encode. Errors carry a Kind (KindOf) that maps to one HTTP status, and a message
// safe to show. Records that are only shown (lists, details, traces) are read from
// the store directly (Service.Store).
//
// Pipelines and jobs (user API, web UI):
//
//   - CreatePipeline: POST /projects/:id/pipeline?ref= (with variables); pushes go
//     through OnPush, the git Handler's PushFunc.
//   - CancelPipeline, RetryPipeline: POST .../pipelines/:id/cancel and /retry.
//   - CancelJob, RetryJob, PlayJob: POST .../jobs/:id/cancel, /retry and /play.
//   - OpenArtifact: GET .../jobs/:id/artifacts (the archive) and other file types.
//   - ComputeUsage: a namespace's compute minutes, quota and warning this month.
//   - Bootstrap: the first administrator and token on a fresh server.
//
// Runners (user API): CreateRunner (POST /user/runners, a glrt- token),
// UpdateRunner, DeleteRunner, ResetRunnerToken.
//
// The runner API (internal/api): RegisterRunner, VerifyRunner, UnregisterRunner,
// UnregisterManager, ResetRunnerToken, AuthenticateRunner, RequestJob (long
// polling), AuthenticateJob, UpdateJob, AppendTrace, UploadArtifact and
// OpenJobArtifact.
//
// Run starts the background work: wake-ups of long-polling runners (through the
// store's notifier, so across replicas) and the reaper.
//
// # Rules it keeps, in GitLab's words
//
//   - Progression (package progress): GitLab's atomic processing and composite
//     statuses; when on_success/on_failure/always/manual/delayed; allow_failure with
//     exit codes; a retried job is a new attempt replacing the old one; retry:max,
//     when and exit_codes retry failed jobs automatically.
//   - Protected variables reach only protected refs: the project's default branch and
//     every tag (Kiln has no protected-branch settings yet).
//   - Admission (when a job would become pending): a machine type open only to some
//     plans refuses other plans' jobs (kiln_plan_not_allowed); a spent compute quota
//     refuses jobs on hosted machine types (ci_quota_exceeded); a GPU request no
//     registered runner of its machine type could ever satisfy fails
//     (kiln_gpu_unavailable), while a machine type no runner serves yet leaves the
//     job pending, as GitLab's stuck jobs wait for a runner (Config.FailUnserved
//     fails it at once instead, for kiln up, whose runners are all known).
//   - Matching: a job's tags are a subset of the runner's; untagged jobs go to runners
//     that run untagged jobs; a runner serving a machine type takes only that type's
//     jobs (a runner without one is self-managed and matches by tags); GPU jobs go to
//     runners whose free GPUs fit them now (package gpufit); fair share across
//     top-level namespaces, FIFO within a project.
//   - Compute minutes: duration × the runner's machine type's cost factor, charged to
//     the top-level namespace monthly; warnings at 25 %, 5 % and 0 % left go to the
//     API and to the trace of the job that crossed them; running jobs may overrun a
//     spent quota by the configured minutes, then they are canceled (package quota).
//   - Liveness: a job whose runner is silent for StuckTimeout fails with
//     runner_system_failure (and is retried by its policy); a job past its timeout
//     fails with job_execution_timeout; hosted machine types cap timeouts at 3 hours.
//   - Job tokens (glcbt-…) are issued at claim, stored hashed, and valid only while
//     the job runs, for its project's repository, its trace and its own and its
//     dependencies' artifacts: a payload's dependencies carry the claimed job's token.
//
// # Caches
//
// The runner path reads a few records on every call; this replica keeps them
// briefly and drops what it changes itself: runners for 5 s (a pause or deletion made
// through another replica, or directly in the store, shows within that time),
// projects and namespaces (plans) for 10 s, job-token lookups for 1 s, quota reports
// for 5 s. Changes should go through the Service so that they show at once here.
// A runner host's contact (contacted_at, version, GPU inventory) is written when a
// fact changes and otherwise at most every ContactInterval (a minute), not on every
// poll. A claimed job is remembered for its token, and the trace size and checksum
// this replica's appends left, so that a runner's next calls read nothing again.
//
// This package is on the coordinator side: the runner side (internal/runner,
// internal/executor, internal/gpu) must not import it.
package coordinator
