using Runledger.Server.Lifecycle;

namespace Runledger.Server.LlmObs.Experiments;

/// <summary>
/// <c>llm_experiment</c>: POST /v1/experiments/delete soft-deletes (the mark hides the experiment
/// from normal lists; its job's request time is its <c>deleted_at</c>); the reclaim of the
/// experiment and its events waits for the retention period. Experiments and events are also
/// children of a project (<c>llm_project</c>, whose kind the datasets feature owns).
/// They are deliberately NOT children of a dataset: deleting a dataset leaves the experiments that
/// ran on it, with their results, as Datadog keeps experiment history; their dataset_id then names
/// a dataset that is gone (dataset_name is null).
/// </summary>
public sealed class ExperimentCascade : ICascadeRegistration
{
    public const string Kind = "llm_experiment";
    public const string ProjectKind = "llm_project";

    /// <summary>How long a soft-deleted experiment and its events stay readable (and restorable) before the purge.</summary>
    public static readonly TimeSpan DefaultRetention = TimeSpan.FromDays(30);

    // WITHOUT ROWID on SQLite: batches are chosen by primary key.
    private static readonly string[] EventKey = ["experiment_id", "seq"];

    public void Register(CascadeRegistry registry)
    {
        registry.AddKind(new CascadeKind(
            Kind,
            MarkSql: "UPDATE llm_experiments SET deleting_job_id = @JobId WHERE id = @TargetId AND org_id = @Scope AND deleting_job_id IS NULL",
            FinishSql: "DELETE FROM llm_experiments WHERE id = @TargetId AND deleting_job_id = @JobId")
        {
            // The soft delete: hidden at once, purged when the retention period (the grace,
            // Lifecycle:Grace:llm_experiment) ends, restorable until then. Names are not unique.
            DefaultGrace = DefaultRetention,
            RestoreSql = "UPDATE llm_experiments SET deleting_job_id = NULL WHERE id = @TargetId AND org_id = @Scope AND deleting_job_id = @JobId",
            AncestorsSql = $"SELECT '{ProjectKind}' AS kind, project_id AS id FROM llm_experiments WHERE id = @TargetId",
            ExistsSql = "SELECT COUNT(*) FROM llm_experiments WHERE id = @TargetId AND org_id = @Scope AND deleting_job_id IS NULL",
        });
        // These wheres select by experiment_id alone: inside one experiment's range nothing more is tested.
        registry.AddChild(new CascadeChild(Kind, "llm_experiment_metrics", "llm_experiment_metrics", "experiment_id = @TargetId", Order: 1, EventKey, RangeWhere: ""));
        registry.AddChild(new CascadeChild(Kind, "llm_experiment_spans", "llm_experiment_spans", "experiment_id = @TargetId", Order: 2, EventKey, RangeWhere: ""));

        // Project delete: every experiment of the project, soft-deleted ones included. Their own
        // pending jobs later find nothing left and finish with zero rows.
        // The experiments are walked in id order on (project_id, id), each one step of that index.
        var (ofProject, experimentsOfProject) = CascadeChild.OwnedThrough("experiment_id", "llm_experiments", "project_id");
        registry.AddChild(new CascadeChild(ProjectKind, "llm_experiment_metrics", "llm_experiment_metrics", ofProject, Order: 1, EventKey, RangeWhere: "", experimentsOfProject));
        registry.AddChild(new CascadeChild(ProjectKind, "llm_experiment_spans", "llm_experiment_spans", ofProject, Order: 2, EventKey, RangeWhere: "", experimentsOfProject));
        registry.AddChild(new CascadeChild(ProjectKind, "llm_experiments", "llm_experiments", "project_id = @TargetId", Order: 3));
    }
}
