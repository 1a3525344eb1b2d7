package sqlstore

import (
	"context"
	"fmt"

	"github.com/kiln-ci/kiln/internal/store"
)

type namespaces struct{ *db }

// namespaceSelect reads a namespace with its root's plan.
const namespaceSelect = `SELECT n.id, n.kind, n.name, n.path, n.full_path, n.parent_id, n.root_id, n.owner_id, r.plan, n.created_at
	FROM namespaces n JOIN namespaces r ON r.id = n.root_id`

func scanNamespace(s scanner) (*store.Namespace, error) {
	var n store.Namespace
	err := s.Scan(&n.ID, &n.Kind, &n.Name, &n.Path, &n.FullPath, int64Col{&n.ParentID}, int64Col{&n.RootID},
		int64Col{&n.OwnerID}, stringCol{&n.Plan}, timeCol{&n.CreatedAt})
	return &n, err
}

func (s namespaces) CreateGroup(ctx context.Context, n *store.Namespace) error {
	if err := checkPath("group path", n.Path); err != nil {
		return fmt.Errorf("creating group: %w", err)
	}
	if err := checkNotEmpty("group name", n.Name); err != nil {
		return fmt.Errorf("creating group %q: %w", n.Path, err)
	}
	plan := n.Plan
	switch {
	case n.ParentID != 0 && plan != "":
		return fmt.Errorf("creating group %q: plan %q on a subgroup: %w: a subgroup follows its top-level group's plan", n.Path, plan, store.ErrInvalid)
	case n.ParentID == 0 && plan == "":
		plan = "free"
	}
	if n.ParentID == 0 {
		if err := checkPlan(plan); err != nil {
			return fmt.Errorf("creating group %q: %w", n.Path, err)
		}
	}
	now := s.now()
	err := s.tx(ctx, func(tx querier) error {
		fullPath, rootID, rootPlan := n.Path, int64(0), plan
		if n.ParentID != 0 {
			parent, err := scanNamespace(tx.QueryRowContext(ctx, namespaceSelect+` WHERE n.id = $1`, n.ParentID))
			if err != nil {
				return fmt.Errorf("parent namespace %d: %w", n.ParentID, s.classify(err))
			}
			if parent.Kind != store.NamespaceGroup {
				return fmt.Errorf("parent namespace %d is a user's namespace: %w: groups nest only in groups", n.ParentID, store.ErrInvalid)
			}
			fullPath, rootID, rootPlan = parent.FullPath+"/"+n.Path, parent.RootID, parent.Plan
		}
		var planCol any // only a top-level namespace holds a plan
		if n.ParentID == 0 {
			planCol = plan
		}
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO namespaces (kind, name, path, full_path, parent_id, root_id, owner_id, plan, created_at)
			VALUES ('group', $1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			n.Name, n.Path, fullPath, nullInt64(n.ParentID), nullInt64(rootID), nullInt64(n.OwnerID), planCol, now).Scan(&id)
		if err != nil {
			return s.classify(err)
		}
		if rootID == 0 {
			rootID = id
			if _, err := tx.ExecContext(ctx, `UPDATE namespaces SET root_id = id WHERE id = $1`, id); err != nil {
				return err
			}
		}
		n.ID, n.Kind, n.FullPath, n.RootID, n.Plan, n.CreatedAt = id, store.NamespaceGroup, fullPath, rootID, rootPlan, now
		return nil
	})
	if err != nil {
		return fmt.Errorf("creating group %q: %w", n.Path, err)
	}
	return nil
}

func (s namespaces) Namespace(ctx context.Context, id int64) (*store.Namespace, error) {
	n, err := scanNamespace(s.r.QueryRowContext(ctx, namespaceSelect+` WHERE n.id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("namespace %d: %w", id, s.classify(err))
	}
	return n, nil
}

func (s namespaces) NamespaceByPath(ctx context.Context, fullPath string) (*store.Namespace, error) {
	n, err := scanNamespace(s.r.QueryRowContext(ctx, namespaceSelect+` WHERE lower(n.full_path) = lower($1)`, fullPath))
	if err != nil {
		return nil, fmt.Errorf("namespace %q: %w", fullPath, s.classify(err))
	}
	return n, nil
}

func (s namespaces) ListNamespaces(ctx context.Context, page store.Page) ([]store.Namespace, error) {
	var a args
	limit, offset := page.Bounds()
	rows, err := s.r.QueryContext(ctx, namespaceSelect+` ORDER BY n.id`+pageClause(&a, limit, offset), a...)
	if err != nil {
		return nil, fmt.Errorf("listing namespaces: %w", err)
	}
	out, err := collect(rows, scanNamespace)
	if err != nil {
		return nil, fmt.Errorf("listing namespaces: %w", err)
	}
	return out, nil
}

func (s namespaces) Ancestors(ctx context.Context, id int64) ([]store.Namespace, error) {
	rows, err := s.r.QueryContext(ctx, `WITH RECURSIVE up (id, depth) AS (
			SELECT id, 0 FROM namespaces WHERE id = $1
			UNION ALL
			SELECT p.parent_id, up.depth + 1 FROM up JOIN namespaces p ON p.id = up.id WHERE p.parent_id IS NOT NULL
		)
		`+namespaceSelect+` JOIN up ON up.id = n.id ORDER BY up.depth DESC`, id)
	if err != nil {
		return nil, fmt.Errorf("ancestors of namespace %d: %w", id, err)
	}
	out, err := collect(rows, scanNamespace)
	if err != nil {
		return nil, fmt.Errorf("ancestors of namespace %d: %w", id, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("namespace %d: %w", id, store.ErrNotFound)
	}
	return out, nil
}

func (s namespaces) SetPlan(ctx context.Context, id int64, plan string) error {
	if err := checkPlan(plan); err != nil {
		return fmt.Errorf("setting the plan of namespace %d: %w", id, err)
	}
	res, err := s.w.ExecContext(ctx, `UPDATE namespaces SET plan = $1 WHERE id = $2 AND parent_id IS NULL`, plan, id)
	if err := affected(res, err, s.db); err != nil {
		if _, nerr := s.Namespace(ctx, id); nerr == nil {
			return fmt.Errorf("setting the plan of namespace %d: %w: it is a subgroup; set its top-level group's plan", id, store.ErrInvalid)
		}
		return fmt.Errorf("setting the plan of namespace %d: %w", id, err)
	}
	return nil
}
