-- LLM Observability projects, kept per organisation (the DD-API-KEY's). A project being deleted
-- keeps its row (and so its name) until its cascade has finished.
CREATE TABLE llm_projects (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleting_job_id TEXT NULL,
    UNIQUE (org_id, name)
);
CREATE INDEX ix_llm_projects_org_created ON llm_projects (org_id, created_at, id);
