-- LLM Observability datasets under a project, their versions and their records.
-- A dataset being deleted keeps its row (and so its name) until its cascade has finished.
-- metadata is a JSON object as text. The draft lock names its holder (the application key's owner).
CREATE TABLE llm_datasets (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NULL,
    metadata TEXT NULL,
    current_version BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    draft_user_id TEXT NULL,
    draft_user_name TEXT NULL,
    draft_since BIGINT NULL,
    deleting_job_id TEXT NULL,
    UNIQUE (project_id, name)
);
CREATE INDEX ix_llm_datasets_project_created ON llm_datasets (project_id, created_at, id);

-- One row per version a dataset has had (version 0 exists from creation).
CREATE TABLE llm_dataset_versions (
    dataset_id TEXT NOT NULL,
    version_number BIGINT NOT NULL,
    id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used BIGINT NULL,
    PRIMARY KEY (dataset_id, version_number)
);

-- Records are versioned without copying: a row is what a record was in versions
-- [version_from, version_to); version_to NULL means it is live in the current version. A new
-- version closes the rows it changes and adds rows for their new content, so deleting 100 records
-- touches 100 rows whatever the dataset's size. created_at and id (copied to every row of a record)
-- order lists newest first. input_hash is SHA-256 of the input's canonical JSON (deduplication).
CREATE TABLE llm_records (
    dataset_id TEXT NOT NULL,
    id TEXT NOT NULL,
    version_from BIGINT NOT NULL,
    version_to BIGINT NULL,
    input TEXT NOT NULL,
    expected_output TEXT NULL,
    metadata TEXT NULL,
    tags TEXT NULL,
    input_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (dataset_id, id, version_from)
);
-- The current version's list (and its cursor) is a range scan of this index.
CREATE INDEX ix_llm_records_live ON llm_records (dataset_id, created_at, id) WHERE version_to IS NULL;
CREATE INDEX ix_llm_records_live_input ON llm_records (dataset_id, input_hash) WHERE version_to IS NULL;
