-- Fair-share claims find each top-level namespace's oldest pending job by index.
CREATE INDEX jobs_pending_namespace ON jobs (root_namespace_id, id) WHERE status = 'pending';

-- A trace chunk carries its own CRC-32, so an append is one write and the trace's
-- checksum is combined from its chunks' (NULL: computed from the data).
ALTER TABLE trace_chunks ADD COLUMN crc32 BIGINT;
ALTER TABLE jobs DROP COLUMN trace_crc32;
