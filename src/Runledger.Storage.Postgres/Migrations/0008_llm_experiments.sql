-- LLM Observability experiments and their events (spans and evaluation metrics), per organisation.
-- Deleting an experiment is soft: deleting_job_id hides it from normal lists at once, the
-- deletion job's requested_at is its deleted_at, and the lifecycle engine purges the row and its
-- events when the retention period (the job's grace) ends. Names are not unique: ensure_unique
-- picks a free run name when asked; `experiment` keeps the name the client asked for.
CREATE TABLE llm_experiments (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    dataset_id TEXT NULL,
    dataset_version BIGINT NULL,
    name TEXT NOT NULL,
    experiment TEXT NOT NULL,
    description TEXT NULL,
    config TEXT NULL,
    metadata TEXT NULL,
    status TEXT NOT NULL,
    error TEXT NULL,
    run_count INTEGER NULL,
    parent_experiment_id TEXT NULL,
    author_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    -- Events pushed so far: each push reserves a range, which also orders spans and metrics.
    event_seq BIGINT NOT NULL DEFAULT 0,
    deleting_job_id TEXT NULL
);
CREATE INDEX ix_llm_experiments_project ON llm_experiments (project_id, created_at, id);
CREATE INDEX ix_llm_experiments_dataset ON llm_experiments (dataset_id, dataset_version);
CREATE INDEX ix_llm_experiments_org_created ON llm_experiments (org_id, created_at, id);

-- Keyed on the read order (experiment, push order): v3 pages are range scans, reclaim is too.
CREATE TABLE llm_experiment_spans (
    experiment_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    name TEXT NOT NULL,
    start_ns BIGINT NOT NULL,
    duration BIGINT NOT NULL,
    status TEXT NOT NULL,
    tags TEXT NOT NULL,
    meta TEXT NULL,
    PRIMARY KEY (experiment_id, seq)
);
CREATE INDEX ix_llm_experiment_spans_span ON llm_experiment_spans (experiment_id, span_id);

CREATE TABLE llm_experiment_metrics (
    experiment_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    metric_type TEXT NOT NULL,
    label TEXT NOT NULL,
    timestamp_ms BIGINT NOT NULL,
    score_value DOUBLE PRECISION NULL,
    categorical_value TEXT NULL,
    boolean_value BIGINT NULL,
    json_value TEXT NULL,
    assessment TEXT NULL,
    reasoning TEXT NULL,
    metadata TEXT NULL,
    tags TEXT NOT NULL,
    error TEXT NULL,
    PRIMARY KEY (experiment_id, seq)
);
CREATE INDEX ix_llm_experiment_metrics_span ON llm_experiment_metrics (experiment_id, span_id);
