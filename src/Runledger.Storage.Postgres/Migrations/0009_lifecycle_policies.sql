-- Grace: a job leaves its target's children alone until purge_after (requested_at + the kind's
-- grace period); until then the target is only marked, so a restore can undo the mark.
-- cutoff: for jobs that reclaim by age (retention), rows older than this are the children.
ALTER TABLE deletion_jobs ADD COLUMN purge_after BIGINT NOT NULL DEFAULT 0;
ALTER TABLE deletion_jobs ADD COLUMN cutoff BIGINT NULL;
UPDATE deletion_jobs SET purge_after = requested_at;

-- The claim takes the first due open job; jobs in grace sort after it instead of being scanned.
DROP INDEX ix_deletion_jobs_open;
CREATE INDEX ix_deletion_jobs_due ON deletion_jobs (purge_after, requested_at, id) WHERE state IN ('queued', 'running');

-- Legal holds: deleting a held target, anything inside it, or anything that contains it is refused.
CREATE TABLE legal_holds (
    kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    reason TEXT NOT NULL,
    held_by TEXT NOT NULL,
    held_at BIGINT NOT NULL,
    PRIMARY KEY (kind, target_id)
);

-- One row per hold and each (kind, id) on its path: the held target and its ancestors. Deleting
-- (kind, id) would remove a held target when a row names it, so the scheduler looks it up by key.
CREATE TABLE legal_hold_paths (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    hold_kind TEXT NOT NULL,
    hold_id TEXT NOT NULL,
    PRIMARY KEY (kind, id, hold_kind, hold_id)
);

-- Retention policies per scope (a resource group, an LLM Obs project): remove what is older than days.
CREATE TABLE retention_policies (
    scope_kind TEXT NOT NULL,
    scope_id TEXT NOT NULL,
    policy TEXT NOT NULL,
    days INTEGER NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (scope_kind, scope_id, policy)
);
