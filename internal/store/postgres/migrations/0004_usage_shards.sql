-- A namespace's compute minutes of a month are spread over a few rows (shards), so
-- that jobs finishing together in one namespace do not all queue on one row's lock:
-- a charge adds to one shard, usage is their sum. Quota warnings stay on shard 0.
ALTER TABLE compute_usage ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE compute_usage DROP CONSTRAINT compute_usage_pkey;
ALTER TABLE compute_usage ADD PRIMARY KEY (root_namespace_id, month, shard);
