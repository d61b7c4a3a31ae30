-- The audit chain's anchor: the seq and hash of the newest entry, updated in the same transaction as
-- every append. A chain whose last entry is not the anchor's was cut at the tail.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
SELECT 1,
       COALESCE((SELECT seq FROM audit_log ORDER BY seq DESC LIMIT 1), 0),
       COALESCE((SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1), '');

-- What contains the target below its scope (e.g. the LLM Obs project of a dataset), so jobs can be
-- listed per project; null where the scope says it all.
ALTER TABLE deletion_jobs ADD COLUMN parent TEXT NULL;
CREATE INDEX ix_deletion_jobs_parent ON deletion_jobs (parent, requested_at) WHERE parent IS NOT NULL;

-- Open jobs of a target: retention skips targets that already have one; the list filters by target.
CREATE INDEX ix_deletion_jobs_target ON deletion_jobs (target_id, kind);
