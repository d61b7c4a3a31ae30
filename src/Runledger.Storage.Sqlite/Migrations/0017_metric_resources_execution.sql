-- Deleting an execution (or its group) finds its metric resources by execution_id, the live one and
-- any left by an earlier delete alike; the only index on the column was the partial one of live
-- resources, so every cascade batch of every execution delete scanned all metric resources.
CREATE INDEX ix_metric_resources_execution ON metric_resources (execution_id);
