-- How a job waits to run: for the earlier stages ('stage') or for its needs only
-- ('dag', also `needs: []`), and how long a delayed job waits once it may run.
ALTER TABLE jobs ADD COLUMN scheduling_type TEXT NOT NULL DEFAULT 'stage';
ALTER TABLE jobs ADD COLUMN start_in_seconds INTEGER NOT NULL DEFAULT 0;
