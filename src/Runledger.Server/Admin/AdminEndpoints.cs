using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using Runledger.Server.Auth;
using Runledger.Server.Hosting;
using Runledger.Storage.Audit;
using Runledger.Storage.Lifecycle;

namespace Runledger.Server.Admin;

/// <summary>
/// Runledger's own operations API under <c>/runledger/v1</c> (admin token; ProblemDetails errors):
/// deletion jobs and the audit log.
/// </summary>
public static class AdminEndpoints
{
    public static IEndpointRouteBuilder MapAdmin(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/runledger/v1").RequireAuthorization(Policies.Admin);
        group.MapGet("/deletions", ListJobsAsync);
        group.MapGet("/deletions/{jobId}", GetJobAsync);
        group.MapGet("/audit", ListAuditAsync);
        return app;
    }

    public static async Task<Results<JsonHttpResult<JobList>, ErrorResult>> ListJobsAsync(
        string? state, string? kind, string? scope, int? limit, IDeletionJobStore jobs, CancellationToken cancellationToken)
    {
        if (state is not (null or JobStates.Queued or JobStates.Running or JobStates.Done or JobStates.Failed))
        {
            return ApiError.BadRequest("InvalidParameter", $"state '{state}' is unknown; use queued, running, done or failed.").ToResult();
        }

        if (limit is < 1 or > 1000)
        {
            return ApiError.BadRequest("InvalidParameter", "limit must be between 1 and 1000.").ToResult();
        }

        var rows = await jobs.ListAsync(new JobQuery(state, kind, scope, limit ?? 100), cancellationToken);
        return TypedResults.Json(new JobList(rows.Select(JobDto.From).ToList()), AdminJson.Default.JobList);
    }

    public static async Task<Results<JsonHttpResult<JobDto>, ErrorResult>> GetJobAsync(string jobId, IDeletionJobStore jobs, CancellationToken cancellationToken)
    {
        var job = await jobs.GetAsync(jobId, cancellationToken);
        return job is null
            ? ApiError.NotFound("JobNotFound", $"There is no deletion job '{jobId}'.").ToResult()
            : TypedResults.Json(JobDto.From(job), AdminJson.Default.JobDto);
    }

    public static async Task<Results<JsonHttpResult<AuditList>, ErrorResult>> ListAuditAsync(
        string? targetKind, string? targetId, string? jobId, long? after, int? limit, IAuditStore audit, CancellationToken cancellationToken)
    {
        if (limit is < 1 or > 1000)
        {
            return ApiError.BadRequest("InvalidParameter", "limit must be between 1 and 1000.").ToResult();
        }

        var rows = await audit.ListAsync(new AuditQuery(targetKind, targetId, jobId, after ?? 0, limit ?? 100), cancellationToken);
        return TypedResults.Json(new AuditList(rows.Select(AuditDto.From).ToList()), AdminJson.Default.AuditList);
    }
}

public sealed record JobList(List<JobDto> Jobs);

public sealed record JobDto(
    string Id,
    string Kind,
    string TargetId,
    string Scope,
    string State,
    string RequestedBy,
    DateTimeOffset RequestedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    long Attempts,
    long RowsRemoved,
    Dictionary<string, long> Removed,
    string? Error)
{
    public static JobDto From(DeletionJobRow row) => new(
        row.Id,
        row.Kind,
        row.TargetId,
        row.Scope,
        row.State,
        row.RequestedBy,
        DateTimeOffset.FromUnixTimeMilliseconds(row.RequestedAt),
        row.StartedAt is { } s ? DateTimeOffset.FromUnixTimeMilliseconds(s) : null,
        row.FinishedAt is { } f ? DateTimeOffset.FromUnixTimeMilliseconds(f) : null,
        row.Attempts,
        row.RowsRemoved,
        JsonSerializer.Deserialize(row.Progress, AdminJson.Default.DictionaryStringInt64) ?? [],
        row.Error);
}

public sealed record AuditList(List<AuditDto> Entries);

public sealed record AuditDto(
    long Seq,
    string Id,
    DateTimeOffset At,
    string Actor,
    string Action,
    string TargetKind,
    string TargetId,
    string Scope,
    string? JobId,
    Dictionary<string, long> Counts,
    string? Detail,
    string PrevHash,
    string Hash)
{
    public static AuditDto From(AuditRow row) => new(
        row.Seq,
        row.Id,
        DateTimeOffset.FromUnixTimeMilliseconds(row.At),
        row.Actor,
        row.Action,
        row.TargetKind,
        row.TargetId,
        row.Scope,
        row.JobId,
        JsonSerializer.Deserialize(row.Counts, AdminJson.Default.DictionaryStringInt64) ?? [],
        row.Detail,
        row.PrevHash,
        row.Hash);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(JobList))]
[JsonSerializable(typeof(JobDto))]
[JsonSerializable(typeof(AuditList))]
[JsonSerializable(typeof(Dictionary<string, long>))]
internal sealed partial class AdminJson : JsonSerializerContext;
