package ci

import (
	"io/fs"
	"regexp"
	"time"

	"github.com/kiln-ci/kiln/internal/ci/expr"
)

// Config is a loaded configuration: includes merged, extends and !reference
// resolved, defaults applied, parallel jobs expanded, and everything checked that
// does not depend on a pipeline's context. Compile turns it into a Pipeline. A Config
// is read-only once Load returns it and may be compiled many times, concurrently.
type Config struct {
	// Files are the files read, the main one first.
	Files []string
	// Stages in order, .pre first and .post last.
	Stages []string
	// Variables are the global (top-level) YAML variables, in the order written.
	Variables []Variable
	Workflow  Workflow
	// Jobs are the visible jobs in the order written; a parallel job appears once per
	// instance ("test 1/3", "build: [linux, amd64]").
	Jobs  []*JobConfig
	files fs.FS
	// doc is the resolved document (includes, extends and !reference applied).
	doc *Value
}

// Merged returns the configuration each job runs with, as gitlab-ci-local's preview
// shows it: stages (with .pre and .post), global variables, workflow, and every
// visible job with its defaults folded in and scripts flattened. (GitLab's merged YAML
// keeps hidden jobs and default: as written.) Each call builds a new value.
func (c *Config) Merged() *Value { return mergedView(c.doc) }

// Variable is a YAML variable.
type Variable struct {
	Key, Value  string
	Description string
	Options     []string
	// Raw is expand: false.
	Raw bool
	Pos Pos
}

// Workflow is the workflow keyword.
type Workflow struct {
	Name       string
	NamePos    Pos
	Rules      []*Rule
	HasRules   bool
	AutoCancel AutoCancel
}

// AutoCancel is workflow:auto_cancel (parsed; the coordinator applies it).
type AutoCancel struct {
	OnNewCommit  string `json:"on_new_commit,omitempty"`
	OnJobFailure string `json:"on_job_failure,omitempty"`
}

// Rule is one entry of rules (of a job, of workflow or of an include).
type Rule struct {
	If            *expr.Expr
	Changes       *PathsClause
	Exists        *PathsClause
	When          string // empty: not set
	StartIn       time.Duration
	AllowFailure  *bool
	Interruptible *bool
	Needs         []Need
	HasNeeds      bool
	Variables     []Variable
	AutoCancel    *AutoCancel
	Pos           Pos
}

// PathsClause is rules:changes or rules:exists.
type PathsClause struct {
	Paths     []string
	Regexp    string
	CompareTo string
	Project   string         // exists:project (another project's files: not supported)
	re        *regexp.Regexp // Regexp, compiled when decoded
}

// Need is one entry of needs.
type Need struct {
	Job       string
	Artifacts bool
	Optional  bool
	// Matrix selects instances of a parallel:matrix job (needs:parallel:matrix).
	Matrix []MatrixEntry
	Pos    Pos
}

// MatrixEntry is one hash of parallel:matrix: each variable with its values, in the
// order written.
type MatrixEntry []MatrixVar

// MatrixVar is one variable of a matrix entry.
type MatrixVar struct {
	Name   string
	Values []string
}

// Filter is only or except.
type Filter struct {
	Refs      []string
	Variables []*expr.Expr
	Changes   []string
	// Kubernetes is "active" when set.
	Kubernetes string
	Pos        Pos
	// refRegexps are the /regexp/ refs (without their @project), compiled when
	// decoded.
	refRegexps map[string]*regexp.Regexp
}

// Image is an image or a service as written.
type Image struct {
	Name       string
	Alias      string
	Command    []string
	Entrypoint []string
	PullPolicy []string
	Platform   string
	User       string
	// KubernetesUser is image:kubernetes:user.
	KubernetesUser string
	Variables      []Variable
	Pos            Pos
}

// Cache is one cache entry as written.
type Cache struct {
	Key          string
	KeyFiles     []string
	KeyPrefix    string
	Paths        []string
	Policy       string
	Untracked    bool
	Unprotect    bool
	When         string
	FallbackKeys []string
	Pos          Pos
}

// Artifacts is the artifacts keyword.
type Artifacts struct {
	Paths     []string
	Exclude   []string
	Name      string
	Untracked bool
	When      string
	ExpireIn  string
	ExposeAs  string
	Reports   []Report
	Pos       Pos
}

// Report is one entry of artifacts:reports.
type Report struct {
	Type  string
	Paths []string
	// Format is coverage_report:coverage_format.
	Format string
}

// Retry is the retry keyword.
type Retry struct {
	Max       int      `json:"max"`
	When      []string `json:"when,omitempty"`
	ExitCodes []int    `json:"exit_codes,omitempty"`
}

// AllowFailure is allow_failure.
type AllowFailure struct {
	Set       bool
	Value     bool
	ExitCodes []int
}

// Environment is the environment keyword.
type Environment struct {
	Name       string `json:"name"`
	URL        string `json:"url,omitempty"`
	Action     string `json:"action,omitempty"`
	Tier       string `json:"deployment_tier,omitempty"`
	OnStop     string `json:"on_stop,omitempty"`
	AutoStopIn string `json:"auto_stop_in,omitempty"`
	// KubernetesNamespace is environment:kubernetes:namespace.
	KubernetesNamespace string `json:"kubernetes_namespace,omitempty"`
}

// Inherit is the inherit keyword: nil lists mean everything, empty lists nothing.
type Inherit struct {
	Default   []string
	Variables []string
}

// JobConfig is one job (one instance of a parallel job) as configured, before a
// pipeline's context decides whether and how it runs.
type JobConfig struct {
	// Name is the job's name; for a parallel job, the instance's ("test 2/3").
	Name string
	// BaseName is the name as written, without the parallel suffix.
	BaseName string
	Pos      Pos
	Stage    string
	// StagePos is where stage was written (Pos when the job sets none).
	StagePos Pos

	BeforeScript, Script, AfterScript []string
	Image                             *Image
	Services                          []Image
	Tags                              []string
	Variables                         []Variable
	// MatrixVariables are this instance's parallel:matrix values.
	MatrixVariables []Variable
	// NodeIndex and NodeTotal are CI_NODE_INDEX and CI_NODE_TOTAL (0 when not parallel).
	NodeIndex, NodeTotal int

	Rules        []*Rule
	HasRules     bool
	Only, Except *Filter

	When         string // on_success, on_failure, always, manual or delayed
	StartIn      time.Duration
	AllowFailure AllowFailure
	Needs        []Need
	HasNeeds     bool
	Dependencies []string
	HasDeps      bool
	// dependencyPos is where each of Dependencies was written.
	dependencyPos []Pos
	Artifacts     *Artifacts
	Cache         []Cache
	Retry         Retry
	Timeout       time.Duration
	Interruptible *bool
	ResourceGroup string
	Environment   *Environment
	Coverage      string
	Inherit       Inherit
	// PreGetSourcesScript is hooks:pre_get_sources_script.
	PreGetSourcesScript []string
	// ManualConfirmation is manual_confirmation.
	ManualConfirmation string
	// Unsupported lists the keywords the job uses that Kiln parses but does not
	// carry out (see the package documentation).
	Unsupported []string
}
