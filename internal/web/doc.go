// Package web is Kiln's web UI, server-rendered with html/template from embedded
// templates and assets (one CSS file, a little vanilla JavaScript for live logs and
// collapsible sections), in GitLab's words and colours:
//
//   - / the projects a person may see, with their latest pipeline;
//   - /<namespace> a group's or user's projects;
//   - /<project>/-/pipelines a project's pipelines (and a form to run one);
//   - /<project>/-/pipelines/<id> the pipeline graph by stages with job statuses;
//   - /<project>/-/jobs/<id> a job with its live log (ANSI colours, collapsible
//     sections, follow mode polling /-/jobs/<id>/trace.json by offset), its
//     failure reason, GPU telemetry and artifacts; …/raw is the plain log;
//   - /-/runners and /-/runners/<id> runners with their machine types and GPU
//     inventory and health; /-/machine_types the catalog; /-/usage_quotas compute
//     minutes per top-level namespace with GitLab's warnings.
//
// People sign in at /users/sign_in with a personal access token (read_api or api
// scope), resolved by internal/api/auth as the API resolves it; the session is a
// cookie holding the token sealed with AES-GCM under the server's session key, and
// every request checks the token again, so revoking it ends the session. Actions
// (cancel, retry, play, run pipeline) need the api scope, write access to the project
// and a CSRF token bound to the session. Who may see a project is auth.ProjectAccess;
// a project one may not see answers 404.
//
// Everything shown is escaped by html/template, and job logs by package joblog; pages
// carry a Content-Security-Policy that allows no inline script.
//
// The handler reads records from the store and calls coordinator.Service for
// anything with rules; it never touches HTTP APIs. Only cmd (the server wiring) and
// tests import this package; it is on the coordinator side, so the runner side must
// not import it.
package web
