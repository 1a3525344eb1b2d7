package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/kiln-ci/kiln/internal/store"
)

type traces struct{ *db }

func (s traces) AppendTrace(ctx context.Context, jobID, offset int64, data []byte) (store.TraceInfo, error) {
	if offset < 0 {
		return store.TraceInfo{}, fmt.Errorf("appending to the trace of job %d: offset %d: %w: negative", jobID, offset, store.ErrInvalid)
	}
	var info store.TraceInfo
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if info, err = traceInfo(ctx, tx, jobID); err != nil {
			return s.classify(err)
		}
		if offset != info.Size {
			return fmt.Errorf("offset %d, length %d: %w", offset, info.Size, store.ErrRangeMismatch)
		}
		if len(data) == 0 {
			return nil
		}
		next := store.TraceInfo{Size: info.Size + int64(len(data)), CRC32: crc32.Update(info.CRC32, crc32.IEEETable, data)}
		// The size in the WHERE clause is a compare-and-set against a concurrent append.
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET trace_size = $1, trace_crc32 = $2, updated_at = $3
			WHERE id = $4 AND trace_size = $5`, next.Size, int64(next.CRC32), s.now(), jobID, info.Size)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("offset %d: a concurrent append won: %w", offset, store.ErrRangeMismatch)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO trace_chunks (job_id, start_offset, data) VALUES ($1, $2, $3)`,
			jobID, offset, data); err != nil {
			return s.classify(err)
		}
		info = next
		return nil
	})
	if err != nil {
		if errors.Is(err, store.ErrRangeMismatch) {
			if cur, ierr := s.TraceInfo(ctx, jobID); ierr == nil {
				info = cur
			}
		}
		return info, fmt.Errorf("appending to the trace of job %d: %w", jobID, err)
	}
	return info, nil
}

func traceInfo(ctx context.Context, q querier, jobID int64) (store.TraceInfo, error) {
	var info store.TraceInfo
	var crc int64
	if err := q.QueryRowContext(ctx, `SELECT trace_size, trace_crc32 FROM jobs WHERE id = $1`, jobID).Scan(&info.Size, &crc); err != nil {
		return info, err
	}
	info.CRC32 = uint32(crc)
	return info, nil
}

func (s traces) TraceInfo(ctx context.Context, jobID int64) (store.TraceInfo, error) {
	info, err := traceInfo(ctx, s.r, jobID)
	if err != nil {
		return info, fmt.Errorf("trace of job %d: %w", jobID, s.classify(err))
	}
	return info, nil
}

func (s traces) ReadTrace(ctx context.Context, jobID, offset int64) ([]byte, error) {
	if offset < 0 {
		return nil, fmt.Errorf("reading the trace of job %d: offset %d: %w: negative", jobID, offset, store.ErrInvalid)
	}
	var out []byte
	err := func() error {
		tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return err
		}
		defer tx.Rollback()
		info, err := traceInfo(ctx, tx, jobID)
		if err != nil {
			return s.classify(err)
		}
		if offset >= info.Size {
			out = []byte{}
			return nil
		}
		out = make([]byte, 0, info.Size-offset)
		rows, err := tx.QueryContext(ctx, `SELECT start_offset, data FROM trace_chunks
			WHERE job_id = $1 AND start_offset + length(data) > $2 AND start_offset < $3 ORDER BY start_offset`,
			jobID, offset, info.Size)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var start int64
			var data []byte
			if err := rows.Scan(&start, &data); err != nil {
				return err
			}
			if start < offset {
				data = data[offset-start:]
			}
			out = append(out, data...)
		}
		return rows.Err()
	}()
	if err != nil {
		return nil, fmt.Errorf("reading the trace of job %d: %w", jobID, err)
	}
	return out, nil
}

func (s traces) ResetTrace(ctx context.Context, jobID int64) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET trace_size = 0, trace_crc32 = 0 WHERE id = $1`, jobID)
		if err := affected(res, err, s.db); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM trace_chunks WHERE job_id = $1`, jobID)
		return err
	})
	if err != nil {
		return fmt.Errorf("resetting the trace of job %d: %w", jobID, err)
	}
	return nil
}
