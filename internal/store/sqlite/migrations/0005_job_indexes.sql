-- A project's current jobs (retried attempts left out), newest first, with their
-- status: the user API pages and counts them from this covering index alone.
CREATE INDEX jobs_project_current ON jobs (project_id, id, status) WHERE retried = FALSE;
