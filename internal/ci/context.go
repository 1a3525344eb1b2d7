package ci

import (
	"io/fs"
	"strings"
	"time"

	"github.com/kiln-ci/kiln/internal/jobspec"
)

// Pipeline sources (CI_PIPELINE_SOURCE), GitLab's names.
const (
	SourcePush              = "push"
	SourceWeb               = "web"
	SourceAPI               = "api"
	SourceSchedule          = "schedule"
	SourceTrigger           = "trigger"
	SourcePipeline          = "pipeline"
	SourceParentPipeline    = "parent_pipeline"
	SourceMergeRequestEvent = "merge_request_event"
	SourceChat              = "chat"
	SourceExternal          = "external"
)

// Context is what a pipeline is created for: the commit, why, and the CI/CD variables
// that do not come from the YAML. The zero value is a push pipeline with no variables.
type Context struct {
	// Ref is the branch or tag name (without refs/heads/ or refs/tags/).
	Ref string
	// Tag says Ref is a tag.
	Tag bool
	// SHA and BeforeSHA are the commit and the previous tip of the branch.
	SHA, BeforeSHA string
	// Source is CI_PIPELINE_SOURCE: push, web, api, schedule, trigger,
	// merge_request_event, ...; empty means push.
	Source string
	// DefaultBranch is the project's default branch (CI_DEFAULT_BRANCH).
	DefaultBranch string
	// Protected says Ref is protected (CI_COMMIT_REF_PROTECTED; cache keys get
	// GitLab's -protected or -non_protected suffix from it).
	Protected bool
	// ChangedFiles are the paths the push changed, for rules:changes and
	// only:changes. Nil means unknown, and then changes clauses are true, as GitLab
	// treats them when it cannot compare (new branches, tags, web, schedules, ...).
	ChangedFiles []string
	// Files is the repository at SHA, for rules:exists and cache:key:files. Nil means
	// the files Load read the configuration from.
	Files fs.FS
	// The variable layers that do not come from the YAML, each ordered lowest to
	// highest precedence within itself. Predefined holds what only a server knows
	// (CI_PROJECT_*, CI_PIPELINE_ID, ...); the commit's own predefined variables
	// (CI_COMMIT_*, CI_PIPELINE_SOURCE, CI_DEFAULT_BRANCH) are derived from the fields
	// above and may be overridden there.
	Predefined, Instance, Group, Project, Pipeline jobspec.Variables
	// ProjectTimeout is the timeout of jobs that set none (GitLab's default: 1 hour).
	ProjectTimeout time.Duration
}

// DefaultProjectTimeout is GitLab's default job timeout.
const DefaultProjectTimeout = time.Hour

func (c *Context) source() string {
	if c.Source == "" {
		return SourcePush
	}
	return c.Source
}

// commitVariables are the predefined variables that follow from the commit.
func (c *Context) commitVariables() jobspec.Variables {
	pub := func(k, v string) jobspec.Variable { return jobspec.Variable{Key: k, Value: v, Public: true} }
	vs := jobspec.Variables{pub("CI", "true"), pub("GITLAB_CI", "true")}
	if c.Ref != "" {
		vs = append(vs, pub("CI_COMMIT_REF_NAME", c.Ref), pub("CI_COMMIT_REF_SLUG", Slug(c.Ref)))
		if c.Tag {
			vs = append(vs, pub("CI_COMMIT_TAG", c.Ref))
		} else if c.source() != SourceMergeRequestEvent {
			vs = append(vs, pub("CI_COMMIT_BRANCH", c.Ref))
		}
	}
	if c.SHA != "" {
		short := c.SHA
		if len(short) > 8 {
			short = short[:8]
		}
		vs = append(vs, pub("CI_COMMIT_SHA", c.SHA), pub("CI_COMMIT_SHORT_SHA", short))
	}
	if c.BeforeSHA != "" {
		vs = append(vs, pub("CI_COMMIT_BEFORE_SHA", c.BeforeSHA))
	}
	if c.DefaultBranch != "" {
		vs = append(vs, pub("CI_DEFAULT_BRANCH", c.DefaultBranch))
	}
	vs = append(vs, pub("CI_PIPELINE_SOURCE", c.source()))
	protected := "false"
	if c.Protected {
		protected = "true"
	}
	vs = append(vs, pub("CI_COMMIT_REF_PROTECTED", protected))
	return vs
}

// outerVariables are the variables that do not come from the YAML, lowest precedence
// first: predefined, then instance, group, project and pipeline ones.
func (c *Context) outerVariables() (predefined, settings jobspec.Variables) {
	predefined = append(c.commitVariables(), c.Predefined...)
	settings = make(jobspec.Variables, 0, len(c.Instance)+len(c.Group)+len(c.Project)+len(c.Pipeline))
	settings = append(settings, c.Instance...)
	settings = append(settings, c.Group...)
	settings = append(settings, c.Project...)
	settings = append(settings, c.Pipeline...)
	return predefined, settings
}

// Slug is GitLab's slug of a ref or name (CI_COMMIT_REF_SLUG, CI_ENVIRONMENT_SLUG's
// base): lower case, every character other than 0-9 and a-z replaced by "-", at most
// 63 bytes, no leading or trailing "-".
func Slug(s string) string {
	b := dashed(s)
	if len(b) > 63 {
		b = b[:63]
	}
	return strings.Trim(b, "-")
}

// dashed is s in lower case with every byte other than 0-9 and a-z replaced by "-",
// the start of GitLab's slugs.
func dashed(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			b[i] = '-'
		}
	}
	return string(b)
}
