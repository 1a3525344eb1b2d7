package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"hash/crc32"

	"github.com/kiln-ci/kiln/internal/store"
)

type traces struct{ *db }

// AppendTrace grows the job's trace_size by compare-and-set on the current length
// and inserts the chunk with its own CRC-32, in one statement where the dialect
// allows (PostgreSQL's writable CTE) and one transaction otherwise.
func (s traces) AppendTrace(ctx context.Context, jobID, offset int64, data []byte) (store.TraceInfo, error) {
	if offset < 0 {
		return store.TraceInfo{}, fmt.Errorf("appending to the trace of job %d: offset %d: %w: negative", jobID, offset, store.ErrInvalid)
	}
	next := offset + int64(len(data))
	appended := false
	var err error
	switch {
	case len(data) == 0:
		// Nothing to append: only check the offset below.
	case s.d.WritableCTE:
		var res sql.Result
		res, err = s.w.ExecContext(ctx, `WITH grown AS (
				UPDATE jobs SET trace_size = $1, updated_at = $2 WHERE id = $3 AND trace_size = $4 RETURNING id)
			INSERT INTO trace_chunks (job_id, start_offset, data, crc32) SELECT id, $4, $5, $6 FROM grown`,
			next, s.now(), jobID, offset, data, int64(crc32.ChecksumIEEE(data)))
		appended, err = rowsAffected(res, err)
	default:
		err = s.tx(ctx, func(tx querier) error {
			res, err := tx.ExecContext(ctx, `UPDATE jobs SET trace_size = $1, updated_at = $2 WHERE id = $3 AND trace_size = $4`,
				next, s.now(), jobID, offset)
			if appended, err = rowsAffected(res, err); err != nil || !appended {
				return err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO trace_chunks (job_id, start_offset, data, crc32) VALUES ($1, $2, $3, $4)`,
				jobID, offset, data, int64(crc32.ChecksumIEEE(data)))
			return err
		})
	}
	if err != nil {
		return store.TraceInfo{}, fmt.Errorf("appending to the trace of job %d: %w", jobID, s.classify(err))
	}
	if appended {
		return store.TraceInfo{Size: next}, nil
	}
	var size int64
	if err := s.w.QueryRowContext(ctx, `SELECT trace_size FROM jobs WHERE id = $1`, jobID).Scan(&size); err != nil {
		return store.TraceInfo{}, fmt.Errorf("appending to the trace of job %d: %w", jobID, s.classify(err))
	}
	if size != offset {
		return store.TraceInfo{Size: size}, fmt.Errorf("appending to the trace of job %d at offset %d, length %d: %w",
			jobID, offset, size, store.ErrRangeMismatch)
	}
	return store.TraceInfo{Size: size}, nil
}

// rowsAffected reports whether an exec changed a row.
func rowsAffected(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func (s traces) TraceInfo(ctx context.Context, jobID int64) (store.TraceInfo, error) {
	// One statement, so one snapshot and one round trip: the job's size with each
	// chunk's length and checksum (a chunk without one brings its data).
	rows, err := s.r.QueryContext(ctx, `SELECT j.trace_size, length(c.data), c.crc32, CASE WHEN c.crc32 IS NULL THEN c.data END
		FROM jobs j LEFT JOIN trace_chunks c ON c.job_id = j.id WHERE j.id = $1 ORDER BY c.start_offset`, jobID)
	if err != nil {
		return store.TraceInfo{}, fmt.Errorf("trace of job %d: %w", jobID, err)
	}
	defer rows.Close()
	var info store.TraceInfo
	found := false
	for rows.Next() {
		var n, crc sql.NullInt64
		var data []byte
		if err := rows.Scan(&info.Size, &n, &crc, &data); err != nil {
			return store.TraceInfo{}, fmt.Errorf("trace of job %d: %w", jobID, err)
		}
		found = true
		if !n.Valid {
			continue // no chunks
		}
		if !crc.Valid {
			crc.Int64 = int64(crc32.ChecksumIEEE(data))
		}
		info.CRC32 = crc32Combine(info.CRC32, uint32(crc.Int64), n.Int64)
	}
	if err := rows.Err(); err != nil {
		return store.TraceInfo{}, fmt.Errorf("trace of job %d: %w", jobID, err)
	}
	if !found {
		return store.TraceInfo{}, fmt.Errorf("trace of job %d: %w", jobID, store.ErrNotFound)
	}
	return info, nil
}

// read runs fn in a read-only transaction on the read pool: one snapshot.
func (s traces) read(ctx context.Context, fn func(tx querier) error) error {
	sqlTx, err := s.r.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	tx := s.r.inTx(sqlTx)
	defer tx.prepareMissed(ctx)
	defer sqlTx.Rollback()
	return fn(tx)
}

func (s traces) ReadTrace(ctx context.Context, jobID, offset int64) ([]byte, error) {
	if offset < 0 {
		return nil, fmt.Errorf("reading the trace of job %d: offset %d: %w: negative", jobID, offset, store.ErrInvalid)
	}
	var out []byte
	err := s.read(ctx, func(tx querier) error {
		var size int64
		if err := tx.QueryRowContext(ctx, `SELECT trace_size FROM jobs WHERE id = $1`, jobID).Scan(&size); err != nil {
			return s.classify(err)
		}
		if offset >= size {
			out = []byte{}
			return nil
		}
		out = make([]byte, 0, size-offset)
		rows, err := tx.QueryContext(ctx, `SELECT start_offset, data FROM trace_chunks
			WHERE job_id = $1 AND start_offset + length(data) > $2 AND start_offset < $3 ORDER BY start_offset`,
			jobID, offset, size)
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
	})
	if err != nil {
		return nil, fmt.Errorf("reading the trace of job %d: %w", jobID, err)
	}
	return out, nil
}

func (s traces) ResetTrace(ctx context.Context, jobID int64) error {
	err := s.tx(ctx, func(tx querier) error {
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET trace_size = 0 WHERE id = $1`, jobID)
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
