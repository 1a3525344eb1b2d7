package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/kiln-ci/kiln/internal/store"
)

type pipelines struct{ *db }

const pipelineCols = `id, project_id, iid, ref, tag, protected, sha, before_sha, source, status, name, yaml_errors,
	user_id, variables, created_at, updated_at, started_at, finished_at`

// pipelineColsOf is pipelineCols qualified by a table alias.
func pipelineColsOf(alias string) string {
	cols := strings.Split(pipelineCols, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

func scanPipeline(s scanner) (*store.Pipeline, error) {
	var p store.Pipeline
	err := s.Scan(pipelineDest(&p)...)
	return &p, err
}

// pipelineDest is where a row of pipelineCols scans into p.
func pipelineDest(p *store.Pipeline) []any {
	return []any{&p.ID, &p.ProjectID, &p.IID, &p.Ref, &p.Tag, &p.Protected, &p.SHA, &p.BeforeSHA, &p.Source, &p.Status,
		&p.Name, &p.YAMLErrors, int64Col{&p.UserID}, jsonCol{&p.Variables}, timeCol{&p.CreatedAt}, timeCol{&p.UpdatedAt},
		timeCol{&p.StartedAt}, timeCol{&p.FinishedAt}}
}

func (s pipelines) CreatePipeline(ctx context.Context, p *store.Pipeline, jobs []*store.Job) error {
	if err := checkNotEmpty("ref", p.Ref); err != nil {
		return fmt.Errorf("creating a pipeline: %w", err)
	}
	if err := checkNotEmpty("sha", p.SHA); err != nil {
		return fmt.Errorf("creating a pipeline for %q: %w", p.Ref, err)
	}
	if err := checkNotEmpty("source", p.Source); err != nil {
		return fmt.Errorf("creating a pipeline for %q: %w", p.Ref, err)
	}
	if err := checkStatus("pipeline status", p.Status); err != nil {
		return fmt.Errorf("creating a pipeline for %q: %w", p.Ref, err)
	}
	for i, j := range jobs {
		if err := checkNewJob(j); err != nil {
			return fmt.Errorf("creating a pipeline for %q: job %d: %w", p.Ref, i, err)
		}
	}
	vars := p.Variables
	if vars == nil {
		vars = []store.PipelineVariable{}
	}
	varsArg, err := jsonArg(vars)
	if err != nil {
		return err
	}
	now := s.now()
	err = s.tx(ctx, func(tx querier) error {
		var rootID, iid int64
		err := tx.QueryRowContext(ctx, `UPDATE projects SET pipeline_iid = pipeline_iid + 1 WHERE id = $1
			RETURNING root_namespace_id, pipeline_iid`, p.ProjectID).Scan(&rootID, &iid)
		if err != nil {
			return fmt.Errorf("project %d: %w", p.ProjectID, s.classify(err))
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO pipelines (project_id, iid, ref, tag, protected, sha, before_sha, source, status,
				name, yaml_errors, user_id, variables, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING id`,
			p.ProjectID, iid, p.Ref, p.Tag, p.Protected, p.SHA, p.BeforeSHA, p.Source, p.Status, p.Name, p.YAMLErrors,
			nullInt64(p.UserID), varsArg, now).Scan(&p.ID)
		if err != nil {
			return s.classify(err)
		}
		for _, j := range jobs {
			j.PipelineID, j.ProjectID, j.RootNamespaceID, j.Attempt, j.Retried = p.ID, p.ProjectID, rootID, 1, false
			if j.UserID == 0 {
				j.UserID = p.UserID
			}
			if err := insertJob(ctx, tx, s.db, j, now); err != nil {
				return fmt.Errorf("job %q: %w", j.Name, err)
			}
		}
		p.IID, p.CreatedAt, p.UpdatedAt = iid, now, now
		return nil
	})
	if err != nil {
		return fmt.Errorf("creating a pipeline for %q in project %d: %w", p.Ref, p.ProjectID, err)
	}
	return nil
}

func (s pipelines) Pipeline(ctx context.Context, id int64) (*store.Pipeline, error) {
	p, err := scanPipeline(s.r.QueryRowContext(ctx, `SELECT `+pipelineCols+` FROM pipelines WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("pipeline %d: %w", id, s.classify(err))
	}
	return p, nil
}

func (s pipelines) PipelineByIID(ctx context.Context, projectID, iid int64) (*store.Pipeline, error) {
	p, err := scanPipeline(s.r.QueryRowContext(ctx, `SELECT `+pipelineCols+` FROM pipelines WHERE project_id = $1 AND iid = $2`,
		projectID, iid))
	if err != nil {
		return nil, fmt.Errorf("pipeline #%d of project %d: %w", iid, projectID, s.classify(err))
	}
	return p, nil
}

func (s pipelines) ListPipelines(ctx context.Context, q store.PipelineQuery) ([]store.Pipeline, error) {
	var a args
	limit, offset := q.Page.Bounds()
	const order = ` ORDER BY id DESC`
	var query string
	if offset == 0 {
		query = `SELECT ` + pipelineCols + ` FROM pipelines WHERE ` + pipelineFilter(&a, q) + order + pageClause(&a, limit, offset)
	} else {
		// Deferred join: the page's ids come from the pipelines_project index, so that
		// only the rows shown are read in full.
		query = `SELECT ` + pipelineCols + ` FROM pipelines WHERE id IN (SELECT id FROM pipelines WHERE ` +
			pipelineFilter(&a, q) + order + pageClause(&a, limit, offset) + `)` + order
	}
	rows, err := s.r.QueryContext(ctx, query, a...)
	if err != nil {
		return nil, fmt.Errorf("listing pipelines of project %d: %w", q.ProjectID, err)
	}
	out, err := collect(rows, scanPipeline)
	if err != nil {
		return nil, fmt.Errorf("listing pipelines of project %d: %w", q.ProjectID, err)
	}
	return out, nil
}

// pipelineFilter is the WHERE condition of a pipeline query (without paging).
func pipelineFilter(a *args, q store.PipelineQuery) string {
	where := `project_id = ` + a.add(q.ProjectID)
	if q.Ref != "" {
		where += ` AND ref = ` + a.add(q.Ref)
	}
	if q.SHA != "" {
		where += ` AND sha = ` + a.add(q.SHA)
	}
	if len(q.Statuses) > 0 {
		where += ` AND status IN (` + list(a, q.Statuses) + `)`
	}
	return where
}

func (s pipelines) CountPipelines(ctx context.Context, q store.PipelineQuery, upTo int) (int, error) {
	var a args
	where := pipelineFilter(&a, q) // before a is read
	n, err := s.countUpTo(ctx, "pipelines", where, a, upTo)
	if err != nil {
		return 0, fmt.Errorf("counting pipelines of project %d: %w", q.ProjectID, err)
	}
	return n, nil
}

func (s pipelines) SetPipelineStatus(ctx context.Context, id int64, status store.Status) (*store.Pipeline, error) {
	if err := checkStatus("pipeline status", status); err != nil {
		return nil, fmt.Errorf("setting the status of pipeline %d: %w", id, err)
	}
	a := args{status, s.now()}
	set := `status = $1, updated_at = $2`
	switch {
	case status == store.StatusRunning:
		set += `, started_at = coalesce(started_at, $2), finished_at = NULL`
	case status.Finished():
		set += `, finished_at = $2`
	default:
		set += `, finished_at = NULL`
	}
	p, err := scanPipeline(s.w.QueryRowContext(ctx, `UPDATE pipelines SET `+set+` WHERE id = `+a.add(id)+
		` RETURNING `+pipelineCols, a...))
	if err != nil {
		return nil, fmt.Errorf("setting the status of pipeline %d to %s: %w", id, status, s.classify(err))
	}
	return p, nil
}
