package store

import (
	"context"
	"fmt"
	"log/slog"
)

// Variable owners.
const (
	OwnerInstance = "instance"
	OwnerGroup    = "group"
	OwnerProject  = "project"
)

// Variable types.
const (
	VariableEnv  = "env_var"
	VariableFile = "file"
)

// VariableOwner says whose variable it is: the instance (ID 0), a group or a project.
type VariableOwner struct {
	Kind string // OwnerInstance, OwnerGroup or OwnerProject
	ID   int64
}

// ValidVariableKey reports whether key may name a CI/CD variable (GitLab's rule):
// 1 to 255 letters, digits or '_'.
func ValidVariableKey(key string) bool {
	if key == "" || len(key) > 255 {
		return false
	}
	for _, c := range []byte(key) {
		if c != '_' && (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// Instance is the owner of instance-level variables.
var Instance = VariableOwner{Kind: OwnerInstance}

// GroupOwner returns the owner for a group's variables.
func GroupOwner(id int64) VariableOwner { return VariableOwner{Kind: OwnerGroup, ID: id} }

// ProjectOwner returns the owner for a project's variables.
func ProjectOwner(id int64) VariableOwner { return VariableOwner{Kind: OwnerProject, ID: id} }

func (o VariableOwner) String() string {
	if o.Kind == OwnerInstance {
		return "instance"
	}
	return fmt.Sprintf("%s %d", o.Kind, o.ID)
}

// Variable is a CI/CD variable. Value is a secret: Variable's String and LogValue
// leave it out, and no error carries it.
type Variable struct {
	ID           int64
	Owner        VariableOwner
	Key          string // [A-Za-z0-9_]+, at most 255 characters
	Value        string
	VariableType string // VariableEnv (default) or VariableFile
	Protected    bool   // only for protected refs
	Masked       bool   // masked in job logs (the coordinator checks GitLab's masking rules)
	Raw          bool   // not expanded (GitLab's "expand: false")
	// EnvironmentScope is "*" (the default) or an environment name or pattern. A key
	// is unique per owner and environment scope.
	EnvironmentScope string
	Description      string
}

// String describes the variable without its value.
func (v Variable) String() string {
	return fmt.Sprintf("variable %s (%s, scope %q)", v.Key, v.Owner, v.EnvironmentScope)
}

// LogValue logs the variable without its value.
func (v Variable) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("key", v.Key), slog.String("owner", v.Owner.String()),
		slog.String("environment_scope", v.EnvironmentScope),
		slog.Bool("masked", v.Masked), slog.Bool("protected", v.Protected))
}

// Variables keeps CI/CD variables of the instance, groups and projects.
type Variables interface {
	// CreateVariable inserts v (defaults: VariableEnv, scope "*") and sets v.ID.
	// ErrConflict when the owner already has the key for that scope; ErrNotFound for
	// a missing group or project; ErrInvalid for a bad key, type or owner.
	CreateVariable(ctx context.Context, v *Variable) error
	// UpdateVariable saves v's Value, VariableType, Protected, Masked, Raw and
	// Description, found by Owner, Key and EnvironmentScope. ErrNotFound.
	UpdateVariable(ctx context.Context, v *Variable) error
	// DeleteVariable deletes the owner's variable key for environment scope
	// envScope ("" means "*"). ErrNotFound.
	DeleteVariable(ctx context.Context, owner VariableOwner, key, envScope string) error
	// ListVariables returns an owner's variables by key, then environment scope.
	ListVariables(ctx context.Context, owner VariableOwner) ([]Variable, error)
	// VariablesForProject returns every variable a project's jobs may see, in
	// increasing precedence: instance, then its groups from the top-level one down,
	// then the project's own (each by key). ErrNotFound for a missing project.
	VariablesForProject(ctx context.Context, projectID int64) ([]Variable, error)
}
