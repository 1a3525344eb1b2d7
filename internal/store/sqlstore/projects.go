package sqlstore

import (
	"context"
	"fmt"

	"github.com/kiln-ci/kiln/internal/store"
)

type projects struct{ *db }

const projectCols = `id, namespace_id, root_namespace_id, name, path, full_path, description, default_branch,
	visibility, ci_config_path, creator_id, created_at`

func scanProject(s scanner) (*store.Project, error) {
	var p store.Project
	err := s.Scan(&p.ID, &p.NamespaceID, &p.RootNamespaceID, &p.Name, &p.Path, &p.FullPath, &p.Description,
		&p.DefaultBranch, &p.Visibility, &p.CIConfigPath, int64Col{&p.CreatorID}, timeCol{&p.CreatedAt})
	return &p, err
}

func checkProject(p *store.Project) error {
	if err := checkNotEmpty("project name", p.Name); err != nil {
		return err
	}
	if err := checkOneOf("visibility", p.Visibility, store.VisibilityPrivate, store.VisibilityInternal, store.VisibilityPublic); err != nil {
		return err
	}
	if err := checkNotEmpty("default branch", p.DefaultBranch); err != nil {
		return err
	}
	return checkNotEmpty("CI config path", p.CIConfigPath)
}

func (s projects) CreateProject(ctx context.Context, p *store.Project) error {
	if p.Path == "" && p.Name != "" {
		p.Path = p.Name
	}
	if err := checkPath("project path", p.Path); err != nil {
		return fmt.Errorf("creating project: %w", err)
	}
	if p.Name == "" {
		p.Name = p.Path
	}
	if p.DefaultBranch == "" {
		p.DefaultBranch = "main"
	}
	if p.Visibility == "" {
		p.Visibility = store.VisibilityPrivate
	}
	if p.CIConfigPath == "" {
		p.CIConfigPath = store.DefaultCIConfigPath
	}
	if err := checkProject(p); err != nil {
		return fmt.Errorf("creating project %q: %w", p.Path, err)
	}
	now := s.now()
	err := s.tx(ctx, func(tx querier) error {
		ns, err := scanNamespace(tx.QueryRowContext(ctx, namespaceSelect+` WHERE n.id = $1`, p.NamespaceID))
		if err != nil {
			return fmt.Errorf("namespace %d: %w", p.NamespaceID, s.classify(err))
		}
		fullPath := ns.FullPath + "/" + p.Path
		err = tx.QueryRowContext(ctx, `INSERT INTO projects (namespace_id, root_namespace_id, name, path, full_path, description,
				default_branch, visibility, ci_config_path, creator_id, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
			ns.ID, ns.RootID, p.Name, p.Path, fullPath, p.Description, p.DefaultBranch, p.Visibility, p.CIConfigPath,
			nullInt64(p.CreatorID), now).Scan(&p.ID)
		if err != nil {
			return s.classify(err)
		}
		p.RootNamespaceID, p.FullPath, p.CreatedAt = ns.RootID, fullPath, now
		return nil
	})
	if err != nil {
		return fmt.Errorf("creating project %q: %w", p.Path, err)
	}
	return nil
}

func (s projects) Project(ctx context.Context, id int64) (*store.Project, error) {
	p, err := scanProject(s.r.QueryRowContext(ctx, `SELECT `+projectCols+` FROM projects WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("project %d: %w", id, s.classify(err))
	}
	return p, nil
}

func (s projects) ProjectByPath(ctx context.Context, fullPath string) (*store.Project, error) {
	p, err := scanProject(s.r.QueryRowContext(ctx, `SELECT `+projectCols+` FROM projects WHERE lower(full_path) = lower($1)`, fullPath))
	if err != nil {
		return nil, fmt.Errorf("project %q: %w", fullPath, s.classify(err))
	}
	return p, nil
}

func (s projects) ListProjects(ctx context.Context, q store.ProjectQuery) ([]store.Project, error) {
	var a args
	query := `SELECT ` + projectCols + ` FROM projects WHERE 1 = 1`
	if q.NamespaceID != 0 {
		query += ` AND namespace_id = ` + a.add(q.NamespaceID)
	}
	if q.Under != 0 {
		query = `WITH RECURSIVE down (id) AS (
				SELECT id FROM namespaces WHERE id = ` + a.add(q.Under) + `
				UNION ALL
				SELECT c.id FROM namespaces c JOIN down ON c.parent_id = down.id
			) ` + query + ` AND namespace_id IN (SELECT id FROM down)`
	}
	limit, offset := q.Page.Bounds()
	query += ` ORDER BY id DESC` + pageClause(&a, limit, offset)
	rows, err := s.r.QueryContext(ctx, query, a...)
	if err != nil {
		return nil, fmt.Errorf("listing projects: %w", err)
	}
	out, err := collect(rows, scanProject)
	if err != nil {
		return nil, fmt.Errorf("listing projects: %w", err)
	}
	return out, nil
}

func (s projects) UpdateProject(ctx context.Context, p *store.Project) error {
	if err := checkProject(p); err != nil {
		return fmt.Errorf("updating project %d: %w", p.ID, err)
	}
	res, err := s.w.ExecContext(ctx, `UPDATE projects SET name = $1, description = $2, default_branch = $3, visibility = $4,
		ci_config_path = $5 WHERE id = $6`, p.Name, p.Description, p.DefaultBranch, p.Visibility, p.CIConfigPath, p.ID)
	if err := affected(res, err, s.db); err != nil {
		return fmt.Errorf("updating project %d: %w", p.ID, err)
	}
	return nil
}
