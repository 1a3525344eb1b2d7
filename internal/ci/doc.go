// Package ci turns a repository's .gitlab-ci.yml into a pipeline exactly as GitLab
// would: Load reads and checks the configuration, and (*Config).Compile decides, for
// one pipeline context (ref, source, variables, changed files), which jobs run and
// what each runner receives (a jobspec.Job in GitLab's payload shape).
//
// The package is pure: it reads files only through the fs.FS it is given (the
// repository at a commit) and imports nothing that reaches the network, processes or
// the operating system (internal/importrules enforces this). Both the coordinator and
// `kiln lint` / `kiln exec` use it; the runner never parses YAML and must not need
// this package.
//
// # What Load does, in GitLab's order
//
//  1. Read YAML within Limits (2 MiB per file, nesting depth 150, alias expansion
//     measured before anything is copied so that a "billion laughs" file is refused
//     at once, at most 150 includes). Ruby's YAML 1.1 rules apply where they differ
//     from YAML 1.2: yes/no/on/off are booleans; merge keys (<<) follow Ruby's order;
//     duplicate keys keep the last value, with a warning.
//  2. Interpolate spec:inputs ($[[ inputs.NAME ]], with include:local's inputs or
//     the defaults), then merge include:local files (wildcards, rules, variables in
//     paths, inputs) depth first; include:remote, :project, :template and
//     :component are errors (Kiln works offline and sees only this repository).
//     Paths are looked up as GitLab looks them up: leading slashes dropped, "."
//     and ".." not resolved (so "./ci.yml" does not exist), and a path with "*" is
//     GitLab's repository search ("**" crosses folders, "*" does not; a wildcard
//     that matches nothing includes nothing, with a warning).
//  3. Resolve extends (GitLab's deep merge: hashes merge, everything else is
//     replaced; up to 10 levels; several parents, later ones winning).
//  4. Resolve !reference tags (after extends, as GitLab does).
//  5. Check the structure (ValidateStructure: what GitLab's JSON schema checks).
//  6. Fold default: (and the legacy top-level image, services, cache,
//     before_script, after_script) into jobs per inherit:default, expand parallel
//     and parallel:matrix into named instances, and run GitLab's logical checks:
//     stages exist, needs and dependencies name jobs of the same or an earlier
//     stage, no duplicate needs, no needs cycle, dependencies are part of needs,
//     on_stop jobs match.
//
// Diagnostics carry file, line and column and use GitLab's wording where GitLab has
// one ("jobs:build script can't be blank", "test job: chosen stage deploy2 does not
// exist; available stages are ...", "test job: undefined need: build").
//
// # What Compile does
//
// workflow:rules decide whether there is a pipeline (ErrFilteredOut) and add their
// variables; each job's rules (or only/except, with GitLab's default only: [branches,
// tags] when neither rules nor workflow:rules are used) decide whether it runs and
// with which when, allow_failure, start_in, needs, interruptible and variables. Job
// variables follow GitLab's precedence, lowest first: predefined, global YAML (per
// inherit:variables), workflow rules:variables, job YAML, parallel:matrix values,
// rules:variables, then instance, group, project and pipeline (trigger, manual, API)
// variables; dotenv variables are added by the runner side. Variables are expanded
// as GitLab expands them on the server (jobspec.Variables.ExpandAll and ForRunner).
// Each job's KILN_GPU_* and KILN_CUDA_MIN variables become its machine.GPURequest.
//
// # Keywords Kiln parses but does not carry out
//
// id_tokens, identity, secrets, trigger, pages, release, run, dast_configuration,
// inputs and publish are checked like any keyword and then reported as WARNINGS,
// consistently: the configuration stays valid (a GitLab project's file works as is)
// and the job still runs, without the keyword's effect. Job.Unsupported lists them;
// a job left with no script (a trigger or run job) cannot run, and the coordinator
// should fail it with that reason. Needs from other pipelines or projects are
// ignored with a warning.
//
// # Deliberate differences from GitLab's JSON schema
//
// ValidateStructure agrees with GitLab's schema tests (see the conformance test).
// Where GitLab's own parser accepts more than its schema and no schema test says
// otherwise, Kiln follows the parser: script lines may nest up to 10 levels (the
// schema allows one), a variable may be null (an empty value), workflow: refuses
// unknown keys, an include may be a wildcard (ci/*.yml, ci/**; each file it lists is
// checked), include:local may be a variable (checked once expanded), and rules and
// needs may hold the nested lists that !reference leaves. default:hooks is accepted,
// as both the schema and GitLab's parser accept it.
//
// # Machine types
//
// With LoadOptions.Catalog, Load also places every job on its machine type as a
// coordinator does when it creates a pipeline (machine.Catalog.Place): tags naming
// two machine types and GPU requests the type cannot give are errors at the job. The
// check is static: it sees the variables the file sets, not a project's.
package ci
