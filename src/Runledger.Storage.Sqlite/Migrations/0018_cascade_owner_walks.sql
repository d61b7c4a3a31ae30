-- A cascade over many owners (a project's experiments, a resource group's metric resources) walks
-- them in id order, one step of an index each (CascadeChild.PrefixWalk), instead of looking up the
-- next owner with events through the child's where, which materialised every owner again for each
-- one. SQLite only: PostgreSQL deletes a batch by a list of keys and never walks.
CREATE INDEX ix_llm_experiments_project_id ON llm_experiments (project_id, id);
DROP INDEX ix_metric_resources_rg;
CREATE INDEX ix_metric_resources_rg ON metric_resources (resource_group, id);
