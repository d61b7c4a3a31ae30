-- Which node runs an execution's process, until when it vouches for it (renewed while the
-- process lives), and how the process ended.
ALTER TABLE executions ADD COLUMN runner_node TEXT NULL;
ALTER TABLE executions ADD COLUMN runner_lease_until BIGINT NULL;
ALTER TABLE executions ADD COLUMN exit_code BIGINT NULL;
CREATE INDEX ix_executions_status ON executions (status, created_at);
