using System.Globalization;
using System.Security.Claims;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Runledger.Server.Admin;
using Runledger.Server.AiApi.Executions;
using Runledger.Server.AiApi.ResourceGroups;
using Runledger.Server.Auth;
using Runledger.Server.Hosting;
using Runledger.Server.Lifecycle;
using Runledger.Server.LlmObs.Datasets;
using Runledger.Server.LlmObs.Experiments;
using Runledger.Server.LlmObs.Projects;
using Runledger.Storage;
using Runledger.Storage.Lifecycle;
using Runledger.Storage.ResourceGroups;

namespace Runledger.Server.WebConsole;

/// <summary>
/// Delete with a preview: the dry-run (<see cref="DeletionPreviewer"/>), the delete itself (the same
/// commands the dialects use), the job's progress and restore — each for the kinds the session may
/// delete. The Deletions, Audit and Holds pages (admin) mount the admin API's own handlers.
/// </summary>
public static class ConsoleLifecycleEndpoints
{
    /// <summary>
    /// A delete that would remove this many rows or more (every kind the preview counts, the target
    /// included) is large: the console asks for the target's name to be typed, and the delete
    /// endpoint refuses it unless <c>confirm</c> carries that name exactly.
    /// </summary>
    public const long LargeDeleteRows = 1000;

    public static RouteGroupBuilder MapConsoleLifecycle(this RouteGroupBuilder api)
    {
        var user = api.MapGroup("/deletions").RequireAuthorization(ConsoleAuth.User);
        user.MapPost("/preview", PreviewAsync);
        user.MapPost("/", DeleteAsync);
        user.MapGet("/{jobId}", GetJobAsync);
        user.MapGet("/latest/{kind}/{targetId}", LatestJobAsync);
        user.MapPost("/{jobId}/restore", RestoreAsync);

        var admin = api.MapGroup("/admin").RequireAuthorization(ConsoleAuth.Admin);
        admin.MapGet("/deletions", AdminEndpoints.ListJobsAsync);
        admin.MapPost("/deletions/{jobId}/retry", AdminEndpoints.RetryJobAsync);
        admin.MapGet("/audit", AdminEndpoints.ListAuditAsync);
        admin.MapGet("/audit/verify", AdminEndpoints.VerifyAuditAsync);
        admin.MapHolds();
        return api;
    }

    public static async Task<Results<JsonHttpResult<ConsolePreviewDto>, ErrorResult>> PreviewAsync(HttpContext context, DeletionPreviewer previewer, IDatabase database)
    {
        var (target, error) = await ReadTargetAsync(context);
        if (error is not null)
        {
            return error.ToResult();
        }

        var result = await previewer.PreviewAsync(new PreviewTarget(target!.Kind, target.Id, target.Scope), context.RequestAborted);
        var named = result.Found ? await NameAsync(database, target, context.RequestAborted) : null;
        return TypedResults.Json(ConsolePreviewDto.From(result, named?.Name ?? target.Id), ConsoleJson.Default.ConsolePreviewDto);
    }

    public static async Task<Results<JsonHttpResult<DeleteAccepted>, ErrorResult>> DeleteAsync(
        HttpContext context, ExecutionCommands executions, DeletionScheduler scheduler, IResourceGroupStore groups, DeletionPreviewer previewer, IDatabase database)
    {
        var (target, error) = await ReadTargetAsync(context);
        if (error is not null)
        {
            return error.ToResult();
        }

        // The typed confirmation is the server's rule, not only the dialog's: the preview is counted
        // again here (read-only), and a large delete without the exact name changes nothing.
        var preview = await previewer.PreviewAsync(new PreviewTarget(target!.Kind, target.Id, target.Scope), context.RequestAborted);
        var named = preview.Found ? await NameAsync(database, target, context.RequestAborted) : null;
        if (!preview.Found || named is null)
        {
            return target.Kind == ExecutionCascade.Kind
                ? ExecutionCommands.NotFound(target.Scope, target.Id).ToResult()
                : ApiError.NotFound("TargetNotFound", $"There is no {target.Kind} '{target.Id}' (or it is already being deleted).").ToResult();
        }

        var total = preview.Rows.Values.Sum();
        if (total >= LargeDeleteRows && !string.Equals(target.Confirm, named.Name, StringComparison.Ordinal))
        {
            var rows = total.ToString("N0", CultureInfo.InvariantCulture);
            return ApiError.BadRequest(
                target.Confirm is null ? "ConfirmationRequired" : "ConfirmationMismatch",
                target.Confirm is null
                    ? $"This delete would remove {rows} rows, so it must be confirmed: send \"confirm\": \"{named.Name}\" (the {target.Kind}'s name, typed exactly). Nothing was deleted."
                    : $"\"confirm\" does not match: type the {target.Kind}'s name '{named.Name}' exactly to delete these {rows} rows. Nothing was deleted.").ToResult();
        }

        var actor = context.User.Actor();
        string? jobId;
        switch (target!.Kind)
        {
            case ExecutionCascade.Kind:
                var outcome = await executions.DeleteAsync(target.Scope, target.Id, actor, context.RequestAborted);
                if (outcome.Error is not null)
                {
                    return outcome.Error.ToResult();
                }

                jobId = outcome.JobId;
                break;
            case ResourceGroupCascade.Kind:
                // The AI API's own handler (default-group guard, hold, not found); it names the job in a header.
                var answer = await ResourceGroupEndpoints.DeleteAsync(target.Id, context, groups, scheduler);
                if (answer.Result is ErrorResult refused)
                {
                    return refused;
                }

                jobId = context.Response.Headers[ResourceGroupEndpoints.DeletionJobHeader].ToString();
                break;
            default:
                // A dataset's job carries its project, as the dialect's delete stores it (the Deletions list filters by it).
                var result = (await scheduler.ScheduleManyAsync(
                    target.Kind, [target.Id], target.Scope, actor, new ScheduleOptions(Parent: named.Parent), context.RequestAborted))[0];
                if (result is ScheduleResult.Held held)
                {
                    return ExecutionCommands.LegalHold(held, target.Kind, target.Id).ToResult();
                }

                if (result is not ScheduleResult.Scheduled scheduled)
                {
                    return ApiError.NotFound("TargetNotFound", $"There is no {target.Kind} '{target.Id}' (or it is already being deleted).").ToResult();
                }

                jobId = scheduled.JobId;
                break;
        }

        return TypedResults.Json(new DeleteAccepted(jobId!), ConsoleJson.Default.DeleteAccepted, statusCode: StatusCodes.Status202Accepted);
    }

    public static async Task<Results<JsonHttpResult<JobDto>, ErrorResult>> GetJobAsync(
        string jobId, HttpContext context, IDeletionJobStore jobs, IDatabase database, CascadeRegistry registry, CancellationToken cancellationToken)
    {
        var job = await jobs.GetAsync(jobId, cancellationToken);
        if (job is null || Allowed(context.User, job.Kind, job.Scope) is not null)
        {
            return ApiError.NotFound("JobNotFound", $"There is no deletion job '{jobId}' that this session may see.").ToResult();
        }

        return await AdminEndpoints.GetJobAsync(jobId, jobs, database, registry, cancellationToken);
    }

    /// <summary>The newest job of one target (in the session's organisation for LLM Obs kinds): how a soft-deleted row finds its restore.</summary>
    public static async Task<Results<JsonHttpResult<JobDto>, ErrorResult>> LatestJobAsync(
        string kind, string targetId, string? scope, HttpContext context, IDeletionJobStore jobs, CancellationToken cancellationToken)
    {
        scope = kind.StartsWith("llm_", StringComparison.Ordinal) ? context.User.FindFirst(AuthClaims.Org)?.Value : kind == ResourceGroupCascade.Kind ? targetId : scope;
        var job = scope is null || Allowed(context.User, kind, scope) is not null
            ? null
            : (await jobs.ListAsync(new JobQuery(null, kind, scope, 1, targetId, null, null, null), cancellationToken)) is [var first, ..] ? first : null;
        return job is null
            ? ApiError.NotFound("JobNotFound", $"There is no deletion job for {kind} '{targetId}' that this session may see.").ToResult()
            : TypedResults.Json(JobDto.From(job), ConsoleJson.Default.JobDto);
    }

    public static async Task<Results<JsonHttpResult<JobDto>, ErrorResult>> RestoreAsync(
        string jobId, HttpContext context, IDeletionJobStore jobs, DeletionRestorer restorer)
    {
        var job = await jobs.GetAsync(jobId, context.RequestAborted);
        if (job is null || Allowed(context.User, job.Kind, job.Scope) is not null)
        {
            return ApiError.NotFound("JobNotFound", $"There is no deletion job '{jobId}' that this session may restore.").ToResult();
        }

        return await RestoreEndpoints.RestoreAsync(jobId, context, restorer);
    }

    /// <summary>The kinds the console deletes, and who may: what a session may not delete it is not offered.</summary>
    internal static ApiError? Allowed(ClaimsPrincipal user, string kind, string scope)
    {
        var admin = user.HasScope(AuthClaims.ScopeAdmin);
        var llm = user.HasClaim(ConsoleAuth.AreaClaim, ConsoleAuth.AreaLlm) && (admin || user.HasScope(AuthClaims.ScopeWrite));
        var allowed = kind switch
        {
            ExecutionCascade.Kind => user.HasClaim(ConsoleAuth.AreaClaim, ConsoleAuth.AreaRuns),
            ResourceGroupCascade.Kind => admin,
            ExperimentCascade.Kind or DatasetCascade.Kind or ProjectCascade.Kind => llm && scope == user.FindFirst(AuthClaims.Org)?.Value,
            _ => false,
        };
        var known = kind is ExecutionCascade.Kind or ResourceGroupCascade.Kind or ExperimentCascade.Kind or DatasetCascade.Kind or ProjectCascade.Kind;
        return allowed ? null : new ApiError(StatusCodes.Status403Forbidden, "Forbidden", $"This session may not delete kind '{kind}'{(known ? " here" : "; the console deletes execution, resource_group, llm_project, llm_dataset and llm_experiment")}.");
    }

    /// <summary>
    /// The name a large delete must be confirmed with (executions and resource groups: their id;
    /// LLM Obs projects, datasets and experiments: their name) and the job's parent (a dataset's project).
    /// Null when the target is not there (in the session's organisation, for LLM Obs kinds).
    /// </summary>
    private static async Task<Named?> NameAsync(IDatabase database, Target target, CancellationToken cancellationToken)
    {
        var sql = target.Kind switch
        {
            ProjectCascade.Kind => "SELECT name AS Name, NULL AS Parent FROM llm_projects WHERE id = @Id AND org_id = @Scope",
            DatasetCascade.Kind => "SELECT name AS Name, project_id AS Parent FROM llm_datasets WHERE id = @Id AND org_id = @Scope",
            ExperimentCascade.Kind => "SELECT name AS Name, NULL AS Parent FROM llm_experiments WHERE id = @Id AND org_id = @Scope",
            _ => null,
        };
        if (sql is null)
        {
            return new Named { Name = target.Id };
        }

        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<Named>(new CommandDefinition(sql, new { target.Id, target.Scope }, cancellationToken: cancellationToken));
    }

    private static async Task<(Target? Target, ApiError? Error)> ReadTargetAsync(HttpContext context)
    {
        var body = await JsonBody.ReadAsync(context, ConsoleJson.Default.DeleteTarget, "application/json");
        if (!body.Ok)
        {
            return (null, body.Error);
        }

        if (body.Value! is not { Kind: { Length: > 0 } kind, Id: { Length: > 0 } id } target)
        {
            return (null, ApiError.BadRequest("InvalidTarget", "kind and id are required."));
        }

        // LLM Obs data lives in the session's organisation; a resource group is its own scope.
        var scope = kind.StartsWith("llm_", StringComparison.Ordinal) ? context.User.FindFirst(AuthClaims.Org)?.Value
            : kind == ResourceGroupCascade.Kind ? id
            : target.Scope;
        if (string.IsNullOrEmpty(scope))
        {
            return (null, ApiError.BadRequest("InvalidTarget", $"scope (the resource group) is required for kind '{kind}'."));
        }

        return Allowed(context.User, kind, scope) is { } denied ? (null, denied) : (new Target(kind, id, scope, target.Confirm), null);
    }

    private sealed record Target(string Kind, string Id, string Scope, string? Confirm);

    private sealed class Named
    {
        public required string Name { get; init; }

        public string? Parent { get; init; }
    }
}

/// <summary><c>confirm</c>: the target's name typed by the user, required for large deletes (see <see cref="ConsoleLifecycleEndpoints.LargeDeleteRows"/>).</summary>
public sealed record DeleteTarget(string? Kind, string? Id, string? Scope, string? Confirm = null);

/// <summary>The admin preview, plus what the console's dialog needs: the total and whether (and with which name) it must be confirmed.</summary>
public sealed record ConsolePreviewDto(
    string Kind,
    string Id,
    string Scope,
    bool Found,
    Dictionary<string, long> Rows,
    Dictionary<string, List<string>> Samples,
    string Grace,
    long GraceSeconds,
    bool Restorable,
    HoldDto? Hold,
    long Total,
    bool ConfirmationRequired,
    string ConfirmationName)
{
    public static ConsolePreviewDto From(PreviewResult result, string name)
    {
        var dto = PreviewDto.From(result);
        var total = result.Rows.Values.Sum();
        return new(dto.Kind, dto.Id, dto.Scope, dto.Found, dto.Rows, dto.Samples, dto.Grace, dto.GraceSeconds, dto.Restorable, dto.Hold,
            total, total >= ConsoleLifecycleEndpoints.LargeDeleteRows, name);
    }
}

public sealed record DeleteAccepted(string JobId);
