-- Metrics of executions. One metric resource per execution and generation: DELETE /v2/lm/metrics
-- hides the live one at once (deleting_job_id) and the cascade reclaims its rows in the
-- background; a later PATCH starts a new resource, which the reclaim never touches.
CREATE TABLE metric_resources (
    id TEXT PRIMARY KEY,
    resource_group TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    next_seq BIGINT NOT NULL DEFAULT 0,
    deleting_job_id TEXT NULL
);
CREATE UNIQUE INDEX ux_metric_resources_live ON metric_resources (execution_id) WHERE deleting_job_id IS NULL;
CREATE INDEX ix_metric_resources_rg ON metric_resources (resource_group);

-- Keyed on the read order (resource, timestamp, step): reads and deletes are range scans and no
-- second index slows the inserts. step is -1 when a point has none; seq keeps points unique.
CREATE TABLE metric_points (
    resource_id TEXT NOT NULL,
    ts BIGINT NOT NULL,
    step BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    name TEXT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    labels TEXT NULL,
    PRIMARY KEY (resource_id, ts, step, seq)
);

-- Tags (kind 'tag') and customInfo (kind 'custom'), merged by name.
CREATE TABLE metric_attributes (
    resource_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (resource_id, kind, name)
);
