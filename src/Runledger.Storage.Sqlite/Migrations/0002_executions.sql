-- Configurations and executions of the AI API, each owned by one resource group. Created with
-- the foundation because the resource-group cascade removes them; the executions issue fills
-- them through the API.
CREATE TABLE configurations (
    id TEXT PRIMARY KEY,
    resource_group TEXT NOT NULL,
    name TEXT NOT NULL,
    scenario_id TEXT NOT NULL,
    executable_id TEXT NOT NULL,
    parameter_bindings TEXT NOT NULL,
    input_artifact_bindings TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX ix_configurations_rg ON configurations (resource_group, created_at);

CREATE TABLE executions (
    id TEXT PRIMARY KEY,
    resource_group TEXT NOT NULL,
    configuration_id TEXT NOT NULL,
    configuration_name TEXT NULL,
    scenario_id TEXT NULL,
    executable_id TEXT NULL,
    target_status TEXT NOT NULL,
    status TEXT NOT NULL,
    status_message TEXT NULL,
    status_details TEXT NULL,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    submission_time BIGINT NULL,
    start_time BIGINT NULL,
    completion_time BIGINT NULL,
    deleting_job_id TEXT NULL
);
CREATE INDEX ix_executions_rg ON executions (resource_group, created_at);

-- Captured stdout/stderr lines of an execution's process.
CREATE TABLE execution_logs (
    resource_group TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    stream TEXT NOT NULL,
    msg TEXT NOT NULL,
    PRIMARY KEY (execution_id, seq)
);
CREATE INDEX ix_execution_logs_rg ON execution_logs (resource_group);
