-- Fair-share claims find each top-level namespace's oldest pending job by index.
CREATE INDEX jobs_pending_namespace ON jobs (root_namespace_id, id) WHERE status = 'pending';

-- A trace chunk carries its own CRC-32, so an append is one write and the trace's
-- checksum is combined from its chunks' (NULL: computed from the data).
ALTER TABLE trace_chunks ADD COLUMN crc32 BIGINT;
ALTER TABLE jobs DROP COLUMN trace_crc32;

-- Claims match tags on jobs.tags (jsonb containment, no join per candidate).
DROP TABLE job_tags;

-- jobs is a queue: keep its statistics and dead rows in check as it churns, so the
-- planner keeps walking the pending index rather than sorting a stale guess.
ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.01);
