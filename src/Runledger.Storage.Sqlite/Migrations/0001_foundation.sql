-- Resource groups (AI API tenants). A group being deleted keeps its row, with the job id set,
-- until the cascade has removed everything it owns; readers never see it in that state.
CREATE TABLE resource_groups (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    labels TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    deleting_job_id TEXT NULL
);

CREATE TABLE credentials (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    lookup_hash TEXT NULL UNIQUE,
    client_id TEXT NULL UNIQUE,
    secret_hash TEXT NULL,
    scopes TEXT NOT NULL,
    org_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT NULL
);

CREATE TABLE signing_keys (
    id TEXT PRIMARY KEY,
    key_material TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE deletion_jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    state TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    started_at BIGINT NULL,
    finished_at BIGINT NULL,
    lease_owner TEXT NULL,
    lease_until BIGINT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NULL,
    rows_removed BIGINT NOT NULL DEFAULT 0,
    progress TEXT NOT NULL DEFAULT '{}',
    error TEXT NULL
);
CREATE INDEX ix_deletion_jobs_state ON deletion_jobs (state, requested_at);

-- Append-only and hash-chained: each row carries the hash of the one before.
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    job_id TEXT NULL,
    counts TEXT NOT NULL,
    detail TEXT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX ix_audit_log_target ON audit_log (target_kind, target_id);
