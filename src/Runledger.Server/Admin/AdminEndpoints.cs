using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Runledger.Server.Auth;
using Runledger.Server.Hosting;
using Runledger.Server.Lifecycle;
using Runledger.Storage;
using Runledger.Storage.Audit;
using Runledger.Storage.Lifecycle;

namespace Runledger.Server.Admin;

/// <summary>
/// Runledger's own operations API under <c>/runledger/v1</c> (admin token; ProblemDetails errors):
/// deletion jobs (list, follow, retry) and the audit log (list, verify, export).
/// </summary>
public static class AdminEndpoints
{
    public static IEndpointRouteBuilder MapAdmin(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/runledger/v1").RequireAuthorization(Policies.Admin);
        group.MapGet("/deletions", ListJobsAsync);
        group.MapGet("/deletions/{jobId}", GetJobAsync);
        group.MapPost("/deletions/{jobId}/retry", RetryJobAsync);
        group.MapGet("/audit", ListAuditAsync);
        group.MapGet("/audit/verify", VerifyAuditAsync);
        group.MapGet("/audit/export", ExportAudit);
        group.MapCredentials();
        group.MapLifecycleAdmin();
        return app;
    }

    public static async Task<Results<JsonHttpResult<JobList>, ErrorResult>> ListJobsAsync(
        string? state,
        string? kind,
        string? scope,
        string? targetId,
        string? project,
        string? from,
        string? to,
        int? limit,
        string? cursor,
        IDeletionJobStore jobs,
        CancellationToken cancellationToken)
    {
        if (state is not (null or JobStates.Queued or JobStates.Running or JobStates.Done or JobStates.Failed or JobStates.Restored))
        {
            return ApiError.BadRequest("InvalidParameter", $"state '{state}' is unknown; use queued, running, done, failed or restored.").ToResult();
        }

        if (ValidateLimit(limit) is { } limitError)
        {
            return limitError.ToResult();
        }

        if (!TryParseTime(from, "from", out var fromMs, out var fromError) || !TryParseTime(to, "to", out var toMs, out fromError))
        {
            return fromError!.ToResult();
        }

        JobCursor? before = null;
        if (cursor is not null && (before = DecodeJobCursor(cursor)) is null)
        {
            return ApiError.BadRequest("InvalidParameter", $"cursor '{cursor}' is not one this server gave out; pass the nextCursor of the previous page unchanged, or leave it out for the first page.").ToResult();
        }

        var pageSize = limit ?? 100;
        var rows = await jobs.ListAsync(new JobQuery(state, kind, scope, pageSize, targetId, fromMs, toMs, before, project), cancellationToken);
        var next = rows.Count == pageSize ? EncodeJobCursor(rows[^1]) : null;
        return TypedResults.Json(new JobList(rows.Select(r => JobDto.From(r)).ToList(), next), AdminJson.Default.JobList);
    }

    public static async Task<Results<JsonHttpResult<JobDto>, ErrorResult>> GetJobAsync(
        string jobId, IDeletionJobStore jobs, IDatabase database, CascadeRegistry registry, CancellationToken cancellationToken)
    {
        var job = await jobs.GetAsync(jobId, cancellationToken);
        if (job is null)
        {
            return JobNotFound(jobId).ToResult();
        }

        var left = job.State is JobStates.Done or JobStates.Restored ? null : await RowsLeftAsync(job, database, registry, cancellationToken);
        return TypedResults.Json(JobDto.From(job, left), AdminJson.Default.JobDto);
    }

    /// <summary>Puts a failed job back in the queue with a fresh set of attempts; 409 for any other state.</summary>
    public static async Task<Results<JsonHttpResult<JobDto>, ErrorResult>> RetryJobAsync(
        string jobId,
        HttpContext context,
        IDeletionJobStore jobs,
        IAuditStore audit,
        IDatabase database,
        CascadeRegistry registry,
        JobSignal signal,
        TimeProvider time,
        CancellationToken cancellationToken)
    {
        var job = await jobs.GetAsync(jobId, cancellationToken);
        if (job is null)
        {
            return JobNotFound(jobId).ToResult();
        }

        bool retried;
        using (await database.EnterWriteQueueAsync(cancellationToken))
        {
            await using var connection = await database.OpenAsync(cancellationToken);
            await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
            await database.Dialect.LockAuditChainAsync(connection, transaction, cancellationToken);
            retried = await jobs.RetryAsync(connection, transaction, jobId, cancellationToken);
            if (retried)
            {
                await audit.AppendAsync(connection, transaction, new AuditRow
                {
                    Id = Guid.CreateVersion7().ToString(),
                    At = time.GetUtcNow().ToUnixTimeMilliseconds(),
                    Actor = context.User.Actor(),
                    Action = "deletion.retried",
                    TargetKind = job.Kind,
                    TargetId = job.TargetId,
                    Scope = job.Scope,
                    JobId = job.Id,
                    Counts = "{}",
                    Detail = $"after {job.Attempts} failed attempt(s); last error: {job.Error}",
                }, cancellationToken);
                await transaction.CommitAsync(cancellationToken);
            }
        }

        if (!retried)
        {
            var current = await jobs.GetAsync(jobId, cancellationToken);
            var why = current?.State switch
            {
                JobStates.Queued or JobStates.Running => "the worker is already on it; follow it with GET /runledger/v1/deletions/" + jobId,
                JobStates.Done => "it has finished and there is nothing left to remove",
                _ => "only failed jobs can be retried",
            };
            return new ApiError(StatusCodes.Status409Conflict, "JobNotFailed", $"Deletion job '{jobId}' is {current?.State ?? "gone"}, not failed: {why}.").ToResult();
        }

        signal.Notify();
        var after = await jobs.GetAsync(jobId, cancellationToken);
        return TypedResults.Json(JobDto.From(after!, await RowsLeftAsync(after!, database, registry, cancellationToken)), AdminJson.Default.JobDto);
    }

    public static async Task<Results<JsonHttpResult<AuditList>, ErrorResult>> ListAuditAsync(
        HttpContext context, int? limit, IAuditStore audit, CancellationToken cancellationToken)
    {
        if (ValidateLimit(limit) is { } limitError)
        {
            return limitError.ToResult();
        }

        if (!TryAuditQuery(context.Request.Query, out var query, out var error))
        {
            return error!.ToResult();
        }

        var pageSize = limit ?? 100;
        var rows = await audit.ListAsync(query with { Limit = pageSize }, cancellationToken);
        var next = rows.Count == pageSize ? rows[^1].Seq.ToString(CultureInfo.InvariantCulture) : null;
        return TypedResults.Json(new AuditList(rows.Select(AuditDto.From).ToList(), next), AdminJson.Default.AuditList);
    }

    public static async Task<JsonHttpResult<AuditVerifyResult>> VerifyAuditAsync(IAuditStore audit, CancellationToken cancellationToken)
    {
        var result = await audit.VerifyAsync(cancellationToken);
        return TypedResults.Json(new AuditVerifyResult(result.Ok, result.Entries, result.FirstBadSeq, result.Detail), AdminJson.Default.AuditVerifyResult);
    }

    /// <summary>JSON Lines, one entry per line, streamed page by page (same filters as the list, no limit).</summary>
    public static IResult ExportAudit(HttpContext context, IAuditStore audit)
    {
        if (!TryAuditQuery(context.Request.Query, out var query, out var error))
        {
            return error!.ToResult();
        }

        return new NdjsonResult(audit.ReadAllAsync(query, context.RequestAborted));
    }

    /// <summary>Rows each child of the job's kind still holds: the cascade's own WHERE, counted now.</summary>
    private static async Task<Dictionary<string, long>?> RowsLeftAsync(DeletionJobRow job, IDatabase database, CascadeRegistry registry, CancellationToken cancellationToken)
    {
        var left = new Dictionary<string, long>(StringComparer.Ordinal);
        await using var connection = await database.OpenAsync(cancellationToken);
        foreach (var child in registry.ChildrenOf(job.Kind))
        {
            try
            {
                left[child.Name] = left.GetValueOrDefault(child.Name) + await connection.ExecuteScalarAsync<long>(new CommandDefinition(
                    $"SELECT COUNT(*) FROM {child.Table} WHERE {child.Where}",
                    new { job.TargetId, job.Scope, JobId = job.Id, job.Cutoff },
                    cancellationToken: cancellationToken));
            }
            catch (System.Data.Common.DbException)
            {
                // The store cannot count what the cascade cannot reach either (often why the job
                // failed): the job's error says why, so answer without rowsLeft rather than a 500.
                return null;
            }
        }

        return left;
    }

    private static ApiError JobNotFound(string jobId) =>
        ApiError.NotFound("JobNotFound", $"There is no deletion job '{jobId}'.");

    private static ApiError? ValidateLimit(int? limit) =>
        limit is < 1 or > 1000 ? ApiError.BadRequest("InvalidParameter", "limit must be between 1 and 1000.") : null;

    private static bool TryAuditQuery(IQueryCollection q, out AuditQuery query, out ApiError? error)
    {
        query = new AuditQuery();
        string? Text(string name) => q[name].ToString() is { Length: > 0 } value ? value : null;
        var afterText = Text("cursor") ?? Text("after");
        var after = 0L;
        if (afterText is not null && (!long.TryParse(afterText, NumberStyles.None, CultureInfo.InvariantCulture, out after)))
        {
            error = ApiError.BadRequest("InvalidParameter", $"cursor '{afterText}' is not a sequence number; pass the nextCursor of the previous page unchanged.") with { Parameter = "cursor" };
            return false;
        }

        if (!TryParseTime(Text("from"), "from", out var from, out error) || !TryParseTime(Text("to"), "to", out var to, out error))
        {
            return false;
        }

        query = new AuditQuery(Text("targetKind"), Text("targetId"), Text("jobId"), after, 100, Text("action"), Text("actor"), from, to);
        return true;
    }

    /// <summary>ISO 8601 with an offset (e.g. 2026-01-01T00:00:00Z) to unix milliseconds.</summary>
    private static bool TryParseTime(string? text, string name, out long? unixMs, out ApiError? error)
    {
        unixMs = null;
        error = null;
        if (text is null)
        {
            return true;
        }

        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var value))
        {
            error = ApiError.BadRequest("InvalidParameter", $"{name} '{text}' is not a time; use ISO 8601 such as 2026-01-31T12:00:00Z.") with { Parameter = name };
            return false;
        }

        unixMs = value.ToUnixTimeMilliseconds();
        return true;
    }

    private static string EncodeJobCursor(DeletionJobRow last) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{last.RequestedAt}:{last.Id}")))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static JobCursor? DecodeJobCursor(string cursor)
    {
        try
        {
            var padded = cursor.Replace('-', '+').Replace('_', '/');
            padded += new string('=', (4 - (padded.Length % 4)) % 4);
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(padded));
            var colon = text.IndexOf(':', StringComparison.Ordinal);
            return colon > 0 && long.TryParse(text.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out var at) && colon < text.Length - 1
                ? new JobCursor(at, text[(colon + 1)..])
                : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private sealed class NdjsonResult(IAsyncEnumerable<AuditRow> rows) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.ContentType = "application/x-ndjson";
            var body = httpContext.Response.BodyWriter;
            var newline = "\n"u8.ToArray();
            await foreach (var row in rows)
            {
                var line = JsonSerializer.SerializeToUtf8Bytes(AuditDto.From(row), AdminJson.Default.AuditDto);
                await body.WriteAsync(line, httpContext.RequestAborted);
                await body.WriteAsync(newline, httpContext.RequestAborted);
            }

            await body.FlushAsync(httpContext.RequestAborted);
        }
    }
}

public sealed record JobList(List<JobDto> Jobs, string? NextCursor);

// Removed: rows removed so far per child (and the target itself once finished).
// RowsLeft: rows each child still holds, counted at the time of the request; absent once the job is done.
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
    DateTimeOffset? NextAttemptAt,
    string? LeaseOwner,
    long RowsRemoved,
    Dictionary<string, long> Removed,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Dictionary<string, long>? RowsLeft,
    string? Error)
{
    /// <summary>Until then the job waits and can be restored (equal to requestedAt when the kind has no grace).</summary>
    public DateTimeOffset PurgeAfter { get; init; }

    /// <summary>What contains the target below its scope (e.g. the LLM Obs project), when the job was scheduled with one; <c>?project=</c> filters on it.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Parent { get; init; }

    public static JobDto From(DeletionJobRow row, Dictionary<string, long>? rowsLeft = null) => new(
        row.Id,
        row.Kind,
        row.TargetId,
        row.Scope,
        row.State,
        row.RequestedBy,
        DateTimeOffset.FromUnixTimeMilliseconds(row.RequestedAt),
        Time(row.StartedAt),
        Time(row.FinishedAt),
        row.Attempts,
        Time(row.NextAttemptAt),
        row.LeaseOwner,
        row.RowsRemoved,
        JsonSerializer.Deserialize(row.Progress, AdminJson.Default.DictionaryStringInt64) ?? [],
        rowsLeft,
        row.Error)
    {
        PurgeAfter = DateTimeOffset.FromUnixTimeMilliseconds(row.PurgeAfter),
        Parent = row.Parent,
    };

    private static DateTimeOffset? Time(long? unixMs) => unixMs is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;
}

public sealed record AuditList(List<AuditDto> Entries, string? NextCursor);

public sealed record AuditVerifyResult(
    bool Ok,
    long Entries,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? FirstBadSeq,
    string Detail);

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
[JsonSerializable(typeof(AuditDto))]
[JsonSerializable(typeof(AuditVerifyResult))]
[JsonSerializable(typeof(Dictionary<string, long>))]
[JsonSerializable(typeof(CredentialCreateRequest))]
[JsonSerializable(typeof(CredentialDto))]
[JsonSerializable(typeof(CredentialList))]
internal sealed partial class AdminJson : JsonSerializerContext;
