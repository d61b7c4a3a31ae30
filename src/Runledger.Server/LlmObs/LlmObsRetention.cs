using Runledger.Server.Lifecycle;
using Runledger.Server.LlmObs.Datasets;
using Runledger.Server.LlmObs.Experiments;
using Runledger.Server.LlmObs.Projects;

namespace Runledger.Server.LlmObs;

/// <summary>
/// Retention policies of an LLM Obs project (scope kind <c>llm_project</c>, scope id the project,
/// <c>?scope=</c> its organisation):
/// <list type="bullet">
/// <item><c>dataset_versions</c>: dataset versions unused (last_used, else created) for N days go —
/// never a dataset's current version, never one a live experiment references. A job of kind
/// <c>llm_dataset_versions_expired</c> per dataset (the dataset stays) removes those version rows and
/// the record rows live ONLY in removed versions, set-based in batches.</item>
/// <item><c>deleted_experiments</c>: experiments soft-deleted more than N days ago are purged with
/// their events before the global grace ends, one <c>llm_experiment_expired</c> job each; their
/// original soft-delete jobs later find nothing left and finish with zero rows.</item>
/// </list>
/// </summary>
public sealed class LlmObsRetention : ICascadeRegistration
{
    public const string ExpiredVersionsKind = "llm_dataset_versions_expired";
    public const string ExpiredExperimentKind = "llm_experiment_expired";

    // WITHOUT ROWID on SQLite: batches are chosen by primary key.
    private static readonly string[] EventKey = ["experiment_id", "seq"];

    /// <summary>
    /// Version rows (alias <paramref name="v"/>) of dataset <paramref name="dataset"/> that retention
    /// removes: older than the cutoff by last use, not current, not named by a live experiment.
    /// </summary>
    internal static string Expirable(string v, string dataset, string currentVersion) => $"""
        {v}.dataset_id = {dataset} AND {v}.version_number <> {currentVersion}
          AND COALESCE({v}.last_used, {v}.created_at) < @Cutoff
          AND NOT EXISTS (SELECT 1 FROM llm_experiments ex WHERE ex.dataset_id = {dataset} AND ex.dataset_version = {v}.version_number AND ex.deleting_job_id IS NULL)
        """;

    private static string ExpirableOfTarget(string v) =>
        Expirable(v, "@TargetId", "(SELECT cd.current_version FROM llm_datasets cd WHERE cd.id = @TargetId)");

    private static string NoOpenJob(string kind, string target) =>
        $"NOT EXISTS (SELECT 1 FROM deletion_jobs x WHERE x.kind = '{kind}' AND x.target_id = {target} AND x.state IN ('queued', 'running'))";

    public void Register(CascadeRegistry registry)
    {
        RegisterVersions(registry);
        RegisterExperiments(registry);
    }

    private static void RegisterVersions(CascadeRegistry registry)
    {
        const string datasetLive = """
            SELECT COUNT(*) FROM llm_datasets d
            WHERE d.id = @TargetId AND d.org_id = @Scope AND d.deleting_job_id IS NULL
              AND EXISTS (SELECT 1 FROM llm_projects p WHERE p.id = d.project_id AND p.deleting_job_id IS NULL)
            """;
        registry.AddKind(new CascadeKind(
            ExpiredVersionsKind,

            // Nothing to hide: the statement only proves the dataset is live (one row) for the scheduler.
            MarkSql: "UPDATE llm_datasets SET deleting_job_id = deleting_job_id WHERE id = @TargetId AND org_id = @Scope AND deleting_job_id IS NULL",
            FinishSql: "DELETE FROM llm_datasets WHERE 1 = 0")
        {
            // A hold on the dataset or on its project forbids removing its versions too.
            AncestorsSql = $"SELECT '{DatasetCascade.Kind}' AS kind, @TargetId AS id UNION ALL SELECT '{ProjectCascade.Kind}' AS kind, project_id AS id FROM llm_datasets WHERE id = @TargetId",
            ExistsSql = datasetLive,
        });

        // Records first, while the version rows still say which versions stay: a row is live in
        // [version_from, version_to); it goes when no version of that range is kept. Rows live in
        // the current version (version_to NULL) always stay.
        registry.AddChild(new CascadeChild(
            ExpiredVersionsKind,
            "llm_records",
            "llm_records",
            $"""
            dataset_id = @TargetId AND version_to IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM llm_dataset_versions k
                              WHERE k.dataset_id = @TargetId AND k.version_number >= llm_records.version_from AND k.version_number < llm_records.version_to
                                AND NOT ({ExpirableOfTarget("k")}))
            """,
            Order: 1));
        registry.AddChild(new CascadeChild(ExpiredVersionsKind, "llm_dataset_versions", "llm_dataset_versions", ExpirableOfTarget("llm_dataset_versions"), Order: 2));

        registry.AddRetentionPolicy(new RetentionPolicyKind(
            "dataset_versions",
            ProjectCascade.Kind,
            ExpiredVersionsKind,
            $"""
            SELECT d.id, d.org_id AS scope FROM llm_datasets d
            WHERE d.project_id = @ScopeId AND d.deleting_job_id IS NULL
              AND EXISTS (SELECT 1 FROM llm_projects p WHERE p.id = d.project_id AND p.deleting_job_id IS NULL)
              AND EXISTS (SELECT 1 FROM llm_dataset_versions v WHERE {Expirable("v", "d.id", "d.current_version")})
              AND {NoOpenJob(ExpiredVersionsKind, "d.id")}
            ORDER BY d.created_at, d.id
            LIMIT @Limit
            """,
            "Removes dataset versions not used (by an experiment; else since created) for N days, with the records live only in them; never a dataset's current version, never one a live experiment references. Targets are the datasets that have such versions.",
            ByAge: true));
    }

    private static void RegisterExperiments(CascadeRegistry registry)
    {
        const string softDeleted = "SELECT COUNT(*) FROM llm_experiments WHERE id = @TargetId AND org_id = @Scope AND deleting_job_id IS NOT NULL";
        registry.AddKind(new CascadeKind(
            ExpiredExperimentKind,

            // The experiment is already hidden by its soft delete; this proves it still is.
            MarkSql: "UPDATE llm_experiments SET deleting_job_id = deleting_job_id WHERE id = @TargetId AND org_id = @Scope AND deleting_job_id IS NOT NULL",
            FinishSql: "DELETE FROM llm_experiments WHERE id = @TargetId AND deleting_job_id IS NOT NULL")
        {
            AncestorsSql = $"SELECT '{ProjectCascade.Kind}' AS kind, project_id AS id FROM llm_experiments WHERE id = @TargetId",
            ExistsSql = softDeleted,
        });

        // Restored meanwhile (deleting_job_id cleared): nothing of it goes.
        const string stillDeleted = "experiment_id = @TargetId AND EXISTS (SELECT 1 FROM llm_experiments se WHERE se.id = @TargetId AND se.deleting_job_id IS NOT NULL)";
        registry.AddChild(new CascadeChild(ExpiredExperimentKind, "llm_experiment_metrics", "llm_experiment_metrics", stillDeleted, Order: 1, EventKey));
        registry.AddChild(new CascadeChild(ExpiredExperimentKind, "llm_experiment_spans", "llm_experiment_spans", stillDeleted, Order: 2, EventKey));

        registry.AddRetentionPolicy(new RetentionPolicyKind(
            "deleted_experiments",
            ProjectCascade.Kind,
            ExpiredExperimentKind,
            $"""
            SELECT e.id, e.org_id AS scope FROM llm_experiments e JOIN deletion_jobs j ON j.id = e.deleting_job_id
            WHERE e.project_id = @ScopeId AND j.kind = '{ExperimentCascade.Kind}' AND j.requested_at < @Cutoff
              AND EXISTS (SELECT 1 FROM llm_projects p WHERE p.id = e.project_id AND p.deleting_job_id IS NULL)
              AND {NoOpenJob(ExpiredExperimentKind, "e.id")}
            ORDER BY j.requested_at, e.id
            LIMIT @Limit
            """,
            "Purges experiments soft-deleted more than N days ago, with their events, before the global retention (Lifecycle:Grace:llm_experiment) ends."));
    }
}
