-- Compute usage rows gain a shard, as on PostgreSQL (where concurrent charges of one
-- namespace spread over shards); SQLite's single writer needs only shard 0. Usage is
-- the sum of a month's shards; quota warnings stay on shard 0.
CREATE TABLE compute_usage_sharded (
    root_namespace_id INTEGER NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    month             TEXT NOT NULL,
    shard             INTEGER NOT NULL DEFAULT 0,
    minutes           REAL NOT NULL DEFAULT 0,
    warned            INTEGER NOT NULL DEFAULT -1,
    PRIMARY KEY (root_namespace_id, month, shard)
);
INSERT INTO compute_usage_sharded (root_namespace_id, month, shard, minutes, warned)
    SELECT root_namespace_id, month, 0, minutes, warned FROM compute_usage;
DROP TABLE compute_usage;
ALTER TABLE compute_usage_sharded RENAME TO compute_usage;
