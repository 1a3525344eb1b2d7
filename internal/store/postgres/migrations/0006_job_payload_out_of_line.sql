-- A job's payload (a few KiB of JSON, written once) moves out of the row into the
-- TOAST table: every status change, trace append and touch rewrites the row, and
-- with the payload inline each of them copied it again (and wrote it to the WAL).
-- A row without its payload is some 300 bytes, so only the payload goes.
ALTER TABLE jobs SET (toast_tuple_target = 1024);
