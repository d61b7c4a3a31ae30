using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Runledger.Server.Auth;
using Runledger.Server.Hosting;
using Runledger.Server.Lifecycle;
using Runledger.Server.LlmObs.Datasets;
using Runledger.Storage.LlmObs;

namespace Runledger.Server.LlmObs.Projects;

/// <summary>
/// A project as a deletable kind: the mark hides it (and so its datasets) at once; the worker
/// reclaims its records, dataset versions and datasets, then the project row, whose name is then
/// free again. Experiments (another registration) add their tables as further children.
/// </summary>
public sealed class ProjectCascade : ICascadeRegistration
{
    public const string Kind = "llm_project";

    public void Register(CascadeRegistry registry)
    {
        registry.AddKind(new CascadeKind(
            Kind,
            MarkSql: "UPDATE llm_projects SET deleting_job_id = @JobId WHERE id = @TargetId AND org_id = @Scope AND deleting_job_id IS NULL",
            FinishSql: "DELETE FROM llm_projects WHERE id = @TargetId AND deleting_job_id = @JobId")
        {
            // Within grace (Lifecycle:Grace:llm_project) the marked row keeps its id and name (reserved,
            // so no new project can collide) and no child was touched: unmarking brings it all back.
            RestoreSql = "UPDATE llm_projects SET deleting_job_id = NULL WHERE id = @TargetId AND org_id = @Scope AND deleting_job_id = @JobId",
            ExistsSql = "SELECT COUNT(*) FROM llm_projects WHERE id = @TargetId AND org_id = @Scope AND deleting_job_id IS NULL",
            Holdable = true,
        });
        const string datasets = "dataset_id IN (SELECT id FROM llm_datasets WHERE project_id = @TargetId)";
        registry.AddChild(new CascadeChild(Kind, "llm_records", "llm_records", datasets, Order: 10));
        registry.AddChild(new CascadeChild(Kind, "llm_dataset_versions", "llm_dataset_versions", datasets, Order: 20));
        registry.AddChild(new CascadeChild(Kind, "llm_datasets", "llm_datasets", "project_id = @TargetId", Order: 30));
    }
}

/// <summary>
/// DeleteLLMObsProjects: <c>POST /api/v2/llm-obs/v1/projects/delete</c> → 204. Ids that name no
/// visible project of the caller's organisation are ignored, so a repeated request is harmless.
/// As with legal holds, a project holding a dataset whose draft lock another user holds refuses the
/// whole request (403 DraftLocked naming that dataset and its holder): the cascade would delete the
/// dataset from under its holder, which deleting the dataset itself does not allow.
/// </summary>
public static class ProjectDeletion
{
    public static RouteGroupBuilder MapProjectDeletion(this RouteGroupBuilder v1)
    {
        v1.MapPost("/projects/delete", DeleteAsync).RequireAuthorization(Policies.LlmObsWrite);
        return v1;
    }

    public static async Task<Results<NoContent, ErrorResult>> DeleteAsync(HttpContext context, DeletionScheduler scheduler, LlmObsHolds holds, IDatasetStore datasets, IOptions<DatasetOptions> options)
    {
        var (attributes, _, error) = await JsonApi.ReadDataAsync(context, ProjectEndpoints.Type);
        if (error is not null)
        {
            return error.ToResult();
        }

        var (ids, idsError) = IdList.Read(attributes!, "project_ids", options.Value.MaxDeleteIds);
        if (idsError is not null)
        {
            return idsError.ToResult();
        }

        // A held project (or one holding a held dataset) refuses the whole request, before any mark.
        var org = ProjectEndpoints.Org(context);
        var (refused, targets) = await holds.CheckAsync(ProjectCascade.Kind, ids, org, context.User.Actor(), context.RequestAborted);
        if (refused is not null)
        {
            return refused.ToResult();
        }

        if (await datasets.LockedByOtherAsync(org, targets, null, context.User.Actor(), context.RequestAborted) is { } locked)
        {
            return DatasetEndpoints.DraftLockedByOther(locked).ToResult();
        }

        // The mark is scoped to the organisation: another organisation's ids mark nothing.
        var results = await scheduler.ScheduleAllOrNoneAsync(ProjectCascade.Kind, targets, org, context.User.Actor(), context.RequestAborted);
        Deletions.SetJobHeader(context, results);
        return LlmObsHolds.Refusal(ProjectCascade.Kind, targets, results) is { } late ? late.ToResult() : TypedResults.NoContent();
    }
}
