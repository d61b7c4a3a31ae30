using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Runledger.Server.Auth;
using Runledger.Server.Hosting;
using Runledger.Server.Lifecycle;
using Runledger.Server.LlmObs.Projects;
using Runledger.Storage.LlmObs;

namespace Runledger.Server.LlmObs.Datasets;

/// <summary>
/// A dataset as a deletable kind: the mark hides it at once, its records and versions are reclaimed
/// by the deletion worker, then its row goes and its name is free again. Experiments (another
/// registration) add their tables as further children of this kind.
/// </summary>
public sealed class DatasetCascade : ICascadeRegistration
{
    public const string Kind = "llm_dataset";

    public void Register(CascadeRegistry registry)
    {
        registry.AddKind(new CascadeKind(
            Kind,
            MarkSql: "UPDATE llm_datasets SET deleting_job_id = @JobId WHERE id = @TargetId AND org_id = @Scope AND deleting_job_id IS NULL",
            FinishSql: "DELETE FROM llm_datasets WHERE id = @TargetId AND deleting_job_id = @JobId")
        {
            // Within grace (Lifecycle:Grace:llm_dataset) the marked row keeps its name reserved and no
            // record or version was touched. Restoring fails (TargetGone) once its project's deletion reclaimed it.
            RestoreSql = "UPDATE llm_datasets SET deleting_job_id = NULL WHERE id = @TargetId AND org_id = @Scope AND deleting_job_id = @JobId",
            ExistsSql = """
                SELECT COUNT(*) FROM llm_datasets d
                WHERE d.id = @TargetId AND d.org_id = @Scope AND d.deleting_job_id IS NULL
                  AND EXISTS (SELECT 1 FROM llm_projects p WHERE p.id = d.project_id AND p.deleting_job_id IS NULL)
                """,
            AncestorsSql = $"SELECT '{ProjectCascade.Kind}' AS kind, project_id AS id FROM llm_datasets WHERE id = @TargetId",
            Holdable = true,
        });
        registry.AddChild(new CascadeChild(Kind, "llm_records", "llm_records", "dataset_id = @TargetId", Order: 10));
        registry.AddChild(new CascadeChild(Kind, "llm_dataset_versions", "llm_dataset_versions", "dataset_id = @TargetId", Order: 20));
    }
}

/// <summary>
/// DeleteLLMObsDatasets: <c>POST /api/v2/llm-obs/v1/{project_id}/datasets/delete</c> → 204. Ids that
/// do not name a visible dataset of this project are ignored, so a repeated request is harmless.
/// A dataset whose draft lock another user holds refuses the whole request (403 DraftLocked, as any
/// other write to it), after the legal-hold check; nothing is scheduled.
/// </summary>
public static class DatasetDeletion
{
    public static RouteGroupBuilder MapDatasetDeletion(this RouteGroupBuilder v1)
    {
        v1.MapPost("/{projectId}/datasets/delete", DeleteAsync).RequireAuthorization(Policies.LlmObsWrite);
        return v1;
    }

    public static async Task<Results<NoContent, ErrorResult>> DeleteAsync(
        string projectId, HttpContext context, IDatasetStore datasets, DeletionScheduler scheduler, LlmObsHolds holds, IOptions<DatasetOptions> options)
    {
        var (attributes, _, error) = await JsonApi.ReadDataAsync(context, DatasetEndpoints.Type);
        if (error is not null)
        {
            return error.ToResult();
        }

        var (ids, idsError) = IdList.Read(attributes!, "dataset_ids", options.Value.MaxDeleteIds);
        if (idsError is not null)
        {
            return idsError.ToResult();
        }

        var org = ProjectEndpoints.Org(context);
        if (!await datasets.ProjectVisibleAsync(org, projectId, context.RequestAborted))
        {
            return DatasetEndpoints.ProjectNotFound(projectId).ToResult();
        }

        var owned = await datasets.VisibleIdsAsync(org, projectId, ids, context.RequestAborted);
        var (refused, targets) = await holds.CheckAsync(DatasetCascade.Kind, owned, org, context.User.Actor(), context.RequestAborted);
        if (refused is not null)
        {
            return refused.ToResult();
        }

        if (await datasets.LockedByOtherAsync(org, [projectId], targets, context.User.Actor(), context.RequestAborted) is { } locked)
        {
            return DatasetEndpoints.DraftLockedByOther(locked).ToResult();
        }

        var results = await scheduler.ScheduleManyAsync(DatasetCascade.Kind, targets, org, context.User.Actor(), new ScheduleOptions(Parent: projectId, AllOrNone: true), context.RequestAborted);
        Deletions.SetJobHeader(context, results);
        return LlmObsHolds.Refusal(DatasetCascade.Kind, targets, results) is { } late ? late.ToResult() : TypedResults.NoContent();
    }
}

internal static class Deletions
{
    public const string JobHeader = "Runledger-Deletion-Job";

    /// <summary>The ids of the jobs scheduled, comma-separated (none: no header).</summary>
    public static void SetJobHeader(HttpContext context, IReadOnlyList<ScheduleResult> results)
    {
        var jobs = results.OfType<ScheduleResult.Scheduled>().Select(s => s.JobId).ToList();
        if (jobs.Count > 0)
        {
            context.Response.Headers[JobHeader] = string.Join(",", jobs);
        }
    }
}
