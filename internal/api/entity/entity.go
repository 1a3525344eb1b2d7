// Package entity holds the JSON shapes of Kiln's user API (/api/v4): GitLab's
// API::Entities with GitLab's field names, plus a few fields of Kiln's own, which
// carry names GitLab does not use (machine_type, plan, gpu_inventory, kiln_message,
// ...). The server (internal/api/userapi) writes them and the client
// (internal/api/client, the kiln pipeline/job/project commands) reads them, so the
// two cannot drift apart.
//
// It imports only the standard library. The runner side (internal/runner,
// internal/executor, internal/gpu) has no business with it.
package entity

import (
	"encoding/json"
	"time"
)

// Error is GitLab's error body: {"message": ...} for most errors, where message is a
// string or, for a record that failed validation, a map of field to problems;
// {"error": ...} for a missing or malformed parameter.
type Error struct {
	Message json.RawMessage `json:"message,omitempty"`
	Error   string          `json:"error,omitempty"`
	// ErrorDescription and Scope come with error "insufficient_scope".
	ErrorDescription string `json:"error_description,omitempty"`
	Scope            string `json:"scope,omitempty"`
}

// Text flattens the error into one line for people: "path has already been taken".
func (e Error) Text() string {
	if e.Error != "" {
		if e.ErrorDescription != "" {
			return e.Error + ": " + e.ErrorDescription
		}
		return e.Error
	}
	var s string
	if json.Unmarshal(e.Message, &s) == nil {
		return s
	}
	var fields map[string][]string
	if json.Unmarshal(e.Message, &fields) == nil {
		return joinFieldErrors(fields)
	}
	return string(e.Message)
}

// UserBasic is GitLab's UserBasic.
type UserBasic struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	State    string `json:"state"`
	// AvatarURL is null: Kiln keeps no avatars.
	AvatarURL *string `json:"avatar_url"`
	WebURL    string  `json:"web_url"`
}

// User is GitLab's User (and UserWithAdmin: Email and IsAdmin are shown to the user
// themself and to administrators).
type User struct {
	UserBasic
	CreatedAt   time.Time `json:"created_at"`
	Email       string    `json:"email,omitempty"`
	IsAdmin     *bool     `json:"is_admin,omitempty"`
	NamespaceID int64     `json:"namespace_id,omitempty"`
}

// PersonalAccessToken is GitLab's PersonalAccessToken; Token is only set in the
// answer that created it.
type PersonalAccessToken struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Revoked   bool      `json:"revoked"`
	CreatedAt time.Time `json:"created_at"`
	Scopes    []string  `json:"scopes"`
	UserID    int64     `json:"user_id"`
	Active    bool      `json:"active"`
	// ExpiresAt is a date, "2006-01-02", or null.
	ExpiresAt *string `json:"expires_at"`
	Token     string  `json:"token,omitempty"`
}

// Namespace is GitLab's Namespace, with the plan of its top-level namespace (as
// GitLab.com shows it).
type Namespace struct {
	ID        int64   `json:"id"`
	Name      string  `json:"name"`
	Path      string  `json:"path"`
	Kind      string  `json:"kind"` // "user" or "group"
	FullPath  string  `json:"full_path"`
	ParentID  *int64  `json:"parent_id"`
	AvatarURL *string `json:"avatar_url"`
	WebURL    string  `json:"web_url"`
	// Plan is Kiln's: free, premium or ultimate, the top-level namespace's plan.
	Plan string `json:"plan"`
}

// Group is GitLab's Group.
type Group struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Path      string    `json:"path"`
	FullName  string    `json:"full_name"`
	FullPath  string    `json:"full_path"`
	ParentID  *int64    `json:"parent_id"`
	WebURL    string    `json:"web_url"`
	CreatedAt time.Time `json:"created_at"`
	// Plan is Kiln's (see Namespace.Plan).
	Plan string `json:"plan"`
}

// Project is GitLab's Project.
type Project struct {
	ID                int64     `json:"id"`
	Name              string    `json:"name"`
	NameWithNamespace string    `json:"name_with_namespace"`
	Path              string    `json:"path"`
	PathWithNamespace string    `json:"path_with_namespace"`
	Description       string    `json:"description"`
	DefaultBranch     string    `json:"default_branch"`
	Visibility        string    `json:"visibility"`
	HTTPURLToRepo     string    `json:"http_url_to_repo"`
	WebURL            string    `json:"web_url"`
	CIConfigPath      string    `json:"ci_config_path"`
	CreatorID         int64     `json:"creator_id"`
	CreatedAt         time.Time `json:"created_at"`
	Namespace         Namespace `json:"namespace"`
}

// Variable is GitLab's Ci::Variable (project and group variables; instance
// variables leave EnvironmentScope out).
type Variable struct {
	VariableType     string  `json:"variable_type"`
	Key              string  `json:"key"`
	Value            string  `json:"value"`
	Protected        bool    `json:"protected"`
	Masked           bool    `json:"masked"`
	Raw              bool    `json:"raw"`
	EnvironmentScope string  `json:"environment_scope,omitempty"`
	Description      *string `json:"description"`
}

// PipelineVariable is a variable of a pipeline, as given when it was created.
type PipelineVariable struct {
	VariableType string `json:"variable_type"`
	Key          string `json:"key"`
	Value        string `json:"value"`
}

// PipelineBasic is GitLab's Ci::PipelineBasic: what lists show.
type PipelineBasic struct {
	ID        int64     `json:"id"`
	IID       int64     `json:"iid"`
	ProjectID int64     `json:"project_id"`
	SHA       string    `json:"sha"`
	Ref       string    `json:"ref"`
	Status    string    `json:"status"`
	Source    string    `json:"source"`
	Name      string    `json:"name,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	WebURL    string    `json:"web_url"`
}

// Pipeline is GitLab's Ci::Pipeline: one pipeline in detail.
type Pipeline struct {
	PipelineBasic
	BeforeSHA  string     `json:"before_sha"`
	Tag        bool       `json:"tag"`
	YAMLErrors *string    `json:"yaml_errors"`
	User       *UserBasic `json:"user"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	// Duration is the running time in whole seconds, null while unfinished;
	// QueuedDuration the whole seconds from creation to start, null under one.
	// GitLab's are integers (a job's are fractional), and clients such as go-gitlab
	// decode them as such.
	Duration       *int64         `json:"duration"`
	QueuedDuration *int64         `json:"queued_duration"`
	Coverage       *string        `json:"coverage"`
	DetailedStatus DetailedStatus `json:"detailed_status"`
}

// DetailedStatus is GitLab's DetailedStatus: how a status reads and looks.
type DetailedStatus struct {
	Icon        string `json:"icon"`
	Text        string `json:"text"`
	Label       string `json:"label"`
	Group       string `json:"group"`
	Tooltip     string `json:"tooltip"`
	HasDetails  bool   `json:"has_details"`
	DetailsPath string `json:"details_path"`
}

// Commit is the part of GitLab's Commit a job shows.
type Commit struct {
	ID      string `json:"id"`
	ShortID string `json:"short_id"`
}
