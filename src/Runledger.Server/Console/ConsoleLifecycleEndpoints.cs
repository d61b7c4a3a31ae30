using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Runledger.Server.Admin;
using Runledger.Server.AiApi.Executions;
using Runledger.Server.AiApi.ResourceGroups;
using Runledger.Server.Auth;
using Runledger.Server.Hosting;
using Runledger.Server.Lifecycle;
using Runledger.Server.LlmObs.Experiments;
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

    public static async Task<Results<JsonHttpResult<PreviewDto>, ErrorResult>> PreviewAsync(HttpContext context, DeletionPreviewer previewer)
    {
        var (target, error) = await ReadTargetAsync(context);
        if (error is not null)
        {
            return error.ToResult();
        }

        var result = await previewer.PreviewAsync(new PreviewTarget(target!.Kind, target.Id, target.Scope), context.RequestAborted);
        return TypedResults.Json(PreviewDto.From(result), ConsoleJson.Default.PreviewDto);
    }

    public static async Task<Results<JsonHttpResult<DeleteAccepted>, ErrorResult>> DeleteAsync(
        HttpContext context, ExecutionCommands executions, DeletionScheduler scheduler, IResourceGroupStore groups)
    {
        var (target, error) = await ReadTargetAsync(context);
        if (error is not null)
        {
            return error.ToResult();
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
                var result = await scheduler.ScheduleAsync(target.Kind, target.Id, target.Scope, actor, context.RequestAborted);
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
            ExperimentCascade.Kind => llm && scope == user.FindFirst(AuthClaims.Org)?.Value,
            _ => false,
        };
        return allowed ? null : new ApiError(StatusCodes.Status403Forbidden, "Forbidden", $"This session may not delete kind '{kind}'{(kind is ExecutionCascade.Kind or ResourceGroupCascade.Kind or ExperimentCascade.Kind ? " here" : "; the console deletes execution, resource_group and llm_experiment")}.");
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

        return Allowed(context.User, kind, scope) is { } denied ? (null, denied) : (new Target(kind, id, scope), null);
    }

    private sealed record Target(string Kind, string Id, string Scope);
}

public sealed record DeleteTarget(string? Kind, string? Id, string? Scope);

public sealed record DeleteAccepted(string JobId);
