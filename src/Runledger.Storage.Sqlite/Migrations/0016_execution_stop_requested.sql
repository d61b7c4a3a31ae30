-- When a stop was requested (the execution went STOPPING): the one status change whose time the
-- row did not keep once the process ended and completion_time/modified_at moved on. With it, every
-- status of an execution's life has its own stored time, and the console's timeline is complete.
ALTER TABLE executions ADD COLUMN stop_requested_at BIGINT NULL;
