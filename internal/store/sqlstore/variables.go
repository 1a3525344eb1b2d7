package sqlstore

import (
	"context"
	"fmt"

	"github.com/kiln-ci/kiln/internal/store"
)

type variables struct{ *db }

const variableCols = `id, owner_kind, group_id, project_id, key, value, variable_type, protected, masked, raw,
	environment_scope, description`

func scanVariable(s scanner) (*store.Variable, error) {
	var v store.Variable
	var groupID, projectID int64
	err := s.Scan(&v.ID, &v.Owner.Kind, int64Col{&groupID}, int64Col{&projectID}, &v.Key, &v.Value, &v.VariableType,
		&v.Protected, &v.Masked, &v.Raw, &v.EnvironmentScope, &v.Description)
	v.Owner.ID = groupID + projectID
	return &v, err
}

// ownerWhere is the condition selecting an owner's variables.
func ownerWhere(a *args, o store.VariableOwner) string {
	switch o.Kind {
	case store.OwnerGroup:
		return `owner_kind = 'group' AND group_id = ` + a.add(o.ID)
	case store.OwnerProject:
		return `owner_kind = 'project' AND project_id = ` + a.add(o.ID)
	default:
		return `owner_kind = 'instance'`
	}
}

func checkOwner(o store.VariableOwner) error {
	switch {
	case o.Kind == store.OwnerInstance && o.ID == 0:
		return nil
	case (o.Kind == store.OwnerGroup || o.Kind == store.OwnerProject) && o.ID > 0:
		return nil
	}
	return fmt.Errorf("variable owner %s: %w: want the instance, a group or a project", o, store.ErrInvalid)
}

func checkVariable(v *store.Variable) error {
	if v.VariableType == "" {
		v.VariableType = store.VariableEnv
	}
	if v.EnvironmentScope == "" {
		v.EnvironmentScope = "*"
	}
	if err := checkOwner(v.Owner); err != nil {
		return err
	}
	if !store.ValidVariableKey(v.Key) {
		return fmt.Errorf("variable key %q: %w: use up to 255 letters, digits and '_'", v.Key, store.ErrInvalid)
	}
	return checkOneOf("variable_type", v.VariableType, store.VariableEnv, store.VariableFile)
}

func (s variables) CreateVariable(ctx context.Context, v *store.Variable) error {
	if err := checkVariable(v); err != nil {
		return fmt.Errorf("creating a variable: %w", err)
	}
	var groupID, projectID any
	switch v.Owner.Kind {
	case store.OwnerGroup:
		groupID = v.Owner.ID
	case store.OwnerProject:
		projectID = v.Owner.ID
	}
	err := s.w.QueryRowContext(ctx, `INSERT INTO ci_variables (owner_kind, group_id, project_id, key, value, variable_type,
			protected, masked, raw, environment_scope, description)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
		v.Owner.Kind, groupID, projectID, v.Key, v.Value, v.VariableType, v.Protected, v.Masked, v.Raw,
		v.EnvironmentScope, v.Description).Scan(&v.ID)
	if err != nil {
		return fmt.Errorf("creating %s: %w", v, s.classify(err))
	}
	return nil
}

func (s variables) UpdateVariable(ctx context.Context, v *store.Variable) error {
	if err := checkVariable(v); err != nil {
		return fmt.Errorf("updating a variable: %w", err)
	}
	a := args{v.Value, v.VariableType, v.Protected, v.Masked, v.Raw, v.Description}
	where := ownerWhere(&a, v.Owner)
	err := s.w.QueryRowContext(ctx, `UPDATE ci_variables SET value = $1, variable_type = $2, protected = $3, masked = $4,
		raw = $5, description = $6 WHERE `+where+` AND key = `+a.add(v.Key)+` AND environment_scope = `+a.add(v.EnvironmentScope)+
		` RETURNING id`, a...).Scan(&v.ID)
	if err != nil {
		return fmt.Errorf("updating %s: %w", v, s.classify(err))
	}
	return nil
}

func (s variables) DeleteVariable(ctx context.Context, owner store.VariableOwner, key, envScope string) error {
	if envScope == "" {
		envScope = "*"
	}
	if err := checkOwner(owner); err != nil {
		return fmt.Errorf("deleting variable %s: %w", key, err)
	}
	var a args
	where := ownerWhere(&a, owner)
	res, err := s.w.ExecContext(ctx, `DELETE FROM ci_variables WHERE `+where+` AND key = `+a.add(key)+
		` AND environment_scope = `+a.add(envScope), a...)
	if err := affected(res, err, s.db); err != nil {
		return fmt.Errorf("deleting variable %s of %s (scope %q): %w", key, owner, envScope, err)
	}
	return nil
}

func (s variables) ListVariables(ctx context.Context, owner store.VariableOwner) ([]store.Variable, error) {
	if err := checkOwner(owner); err != nil {
		return nil, fmt.Errorf("listing variables: %w", err)
	}
	var a args
	rows, err := s.r.QueryContext(ctx, `SELECT `+variableCols+` FROM ci_variables WHERE `+ownerWhere(&a, owner)+
		` ORDER BY key, environment_scope`, a...)
	if err != nil {
		return nil, fmt.Errorf("listing variables of %s: %w", owner, err)
	}
	out, err := collect(rows, scanVariable)
	if err != nil {
		return nil, fmt.Errorf("listing variables of %s: %w", owner, err)
	}
	return out, nil
}

func (s variables) VariablesForProject(ctx context.Context, projectID int64) ([]store.Variable, error) {
	p, err := projects(s).Project(ctx, projectID)
	if err != nil {
		return nil, fmt.Errorf("variables for project %d: %w", projectID, err)
	}
	groups, err := namespaces(s).Ancestors(ctx, p.NamespaceID)
	if err != nil {
		return nil, fmt.Errorf("variables for project %d: %w", projectID, err)
	}
	// Precedence rank: instance 0, groups 1..n from the top down, the project last.
	var a args
	rank := `CASE WHEN owner_kind = 'instance' THEN 0`
	var groupIDs []int64
	for i, g := range groups {
		if g.Kind != store.NamespaceGroup {
			continue
		}
		groupIDs = append(groupIDs, g.ID)
		rank += ` WHEN group_id = ` + a.add(g.ID) + fmt.Sprintf(` THEN %d`, i+1)
	}
	rank += fmt.Sprintf(` ELSE %d END`, len(groups)+1)
	query := `SELECT ` + variableCols + ` FROM ci_variables WHERE owner_kind = 'instance' OR project_id = ` + a.add(projectID)
	if len(groupIDs) > 0 {
		query += ` OR group_id IN (` + list(&a, groupIDs) + `)`
	}
	rows, err := s.r.QueryContext(ctx, query+` ORDER BY `+rank+`, key, environment_scope`, a...)
	if err != nil {
		return nil, fmt.Errorf("variables for project %d: %w", projectID, err)
	}
	out, err := collect(rows, scanVariable)
	if err != nil {
		return nil, fmt.Errorf("variables for project %d: %w", projectID, err)
	}
	return out, nil
}
