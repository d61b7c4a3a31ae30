-- The claim query takes the oldest open job; without this it sorted every open job per claim
-- (measured: 5 ms per claim with 20,000 queued jobs).
CREATE INDEX ix_deletion_jobs_open ON deletion_jobs (requested_at, id) WHERE state IN ('queued', 'running');
