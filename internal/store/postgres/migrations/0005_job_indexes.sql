-- Job updates that change no indexed column (trace appends, runner contact) become
-- HOT updates, which touch no index: updated_at leaves the indexes (the stuck-job
-- reaper walks the active jobs by id instead), and pages keep room for new versions.
ALTER TABLE jobs SET (fillfactor = 75);
DROP INDEX jobs_active_updated;
CREATE INDEX jobs_active ON jobs (id) WHERE status IN ('running', 'canceling');

-- Only running and canceling jobs hold a token, and only claimed jobs a runner:
-- index those alone, so that other status changes insert fewer index entries.
ALTER TABLE jobs DROP CONSTRAINT jobs_token_hash_key;
CREATE UNIQUE INDEX jobs_token_hash ON jobs (token_hash) WHERE token_hash IS NOT NULL;
DROP INDEX jobs_runner;
CREATE INDEX jobs_runner ON jobs (runner_id, id) WHERE runner_id IS NOT NULL;

-- A project's current jobs (retried attempts left out), newest first, with their
-- status: the user API pages and counts them from this index alone.
CREATE INDEX jobs_project_current ON jobs (project_id, id, status) WHERE retried = FALSE;
