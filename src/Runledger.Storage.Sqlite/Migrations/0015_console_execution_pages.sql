-- The console's executions list pages by keyset, newest first: ORDER BY created_at DESC, id DESC
-- after a (created_at, id) cursor, optionally filtered by status, scenario or configuration. Each
-- filter has an index that ends in (created_at, id), so a page is one index range read of
-- limit + 1 entries whatever the page number and however many executions the group holds
-- (100,000 and more), with no sort. The new (resource_group, created_at, id) index covers
-- everything the old (resource_group, created_at) one served.
DROP INDEX ix_executions_rg;
CREATE INDEX ix_executions_rg_page ON executions (resource_group, created_at, id);
CREATE INDEX ix_executions_rg_status_page ON executions (resource_group, status, created_at, id);
CREATE INDEX ix_executions_rg_scenario_page ON executions (resource_group, scenario_id, created_at, id);
CREATE INDEX ix_executions_rg_configuration_page ON executions (resource_group, configuration_id, created_at, id);
