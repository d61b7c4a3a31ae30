using System.Data.Common;
using Dapper;

namespace Runledger.Storage.Lifecycle;

public static class JobStates
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Done = "done";
    public const string Failed = "failed";

    /// <summary>Undone within grace: the target is back, the job will never run.</summary>
    public const string Restored = "restored";
}

public sealed class DeletionJobRow
{
    public required string Id { get; init; }

    /// <summary>What is deleted: a registered cascade kind such as <c>resource_group</c>.</summary>
    public required string Kind { get; init; }

    public required string TargetId { get; init; }

    /// <summary>The tenant the target lives in (resource group, or organisation for LLM Obs).</summary>
    public required string Scope { get; init; }

    public required string State { get; init; }
    public required string RequestedBy { get; init; }
    public long RequestedAt { get; init; }
    public long? StartedAt { get; init; }
    public long? FinishedAt { get; init; }
    public string? LeaseOwner { get; init; }
    public long? LeaseUntil { get; init; }
    public long Attempts { get; init; }
    public long? NextAttemptAt { get; init; }
    public long RowsRemoved { get; init; }

    /// <summary>JSON object: child name → rows removed so far.</summary>
    public required string Progress { get; init; }

    public string? Error { get; init; }

    /// <summary>The worker leaves the job alone before this time (requested_at + the kind's grace); restorable until then.</summary>
    public long PurgeAfter { get; init; }

    /// <summary>For age-based jobs (retention): rows older than this (Unix ms) are the children; <c>@Cutoff</c> in the SQL.</summary>
    public long? Cutoff { get; init; }

    /// <summary>What contains the target below its scope (e.g. the LLM Obs project of a dataset); lists filter on it. Null when the scope says it all.</summary>
    public string? Parent { get; init; }
}

/// <summary>
/// Filters of the jobs list; newest first. <paramref name="Before"/> is the keyset cursor (the last job of the previous page).
/// <paramref name="Parent"/> matches jobs scheduled with that parent (e.g. an LLM Obs project: its own job and those of what it contains).
/// </summary>
public sealed record JobQuery(
    string? State = null,
    string? Kind = null,
    string? Scope = null,
    int Limit = 100,
    string? TargetId = null,
    long? From = null,
    long? To = null,
    JobCursor? Before = null,
    string? Parent = null);

public sealed record JobCursor(long RequestedAt, string Id);

public interface IDeletionJobStore
{
    Task InsertAsync(DbConnection connection, DbTransaction transaction, DeletionJobRow job, CancellationToken cancellationToken);

    /// <summary>Inserts several jobs with multi-row inserts, inside the caller's transaction.</summary>
    Task InsertManyAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<DeletionJobRow> jobs, CancellationToken cancellationToken);

    /// <summary>Those of <paramref name="targetIds"/> that have an open (queued or running) job of <paramref name="kind"/>; in the caller's transaction when given.</summary>
    Task<IReadOnlySet<string>> OpenTargetsAsync(DbConnection connection, DbTransaction? transaction, string kind, IReadOnlyList<string> targetIds, CancellationToken cancellationToken);

    /// <summary>
    /// Claims the first due job (its grace has ended) that is queued, or running with an expired lease (its node died), and
    /// leases it to <paramref name="nodeId"/>. Several nodes may call this at once: each job goes to one.
    /// </summary>
    Task<DeletionJobRow?> ClaimNextAsync(string nodeId, long now, long leaseUntil, CancellationToken cancellationToken);

    /// <summary>
    /// <see cref="ClaimNextAsync(string, long, long, CancellationToken)"/> inside the caller's write
    /// transaction: the claim commits (or rolls back) with whatever else the transaction does.
    /// </summary>
    Task<DeletionJobRow?> ClaimNextAsync(DbConnection connection, DbTransaction transaction, string nodeId, long now, long leaseUntil, CancellationToken cancellationToken);

    /// <summary>
    /// Records one batch inside the batch's own transaction and renews the lease. False when this
    /// node no longer holds the lease; the caller must then roll the batch back.
    /// </summary>
    Task<bool> RecordBatchAsync(DbConnection connection, DbTransaction transaction, string jobId, string nodeId, long removed, string progressJson, long leaseUntil, CancellationToken cancellationToken);

    Task<bool> CompleteAsync(DbConnection connection, DbTransaction transaction, string jobId, string nodeId, long now, CancellationToken cancellationToken);

    /// <summary>
    /// Releases the lease without counting the attempt: the job is queued again (a legal hold was set after it
    /// was scheduled) and is looked at again at <paramref name="nextAttemptAt"/>; <paramref name="reason"/> shows why.
    /// </summary>
    Task PostponeAsync(string jobId, string nodeId, string reason, long nextAttemptAt, CancellationToken cancellationToken);

    /// <summary>
    /// Releases the lease after an error: the job is queued again for <paramref name="nextAttemptAt"/> (backoff), or
    /// failed for good when it is null. Takes its turn in the write queue like every write.
    /// </summary>
    Task FailAsync(string jobId, string nodeId, string errorMessage, long now, long? nextAttemptAt, CancellationToken cancellationToken);

    Task<DeletionJobRow?> GetAsync(string jobId, CancellationToken cancellationToken);

    Task<DeletionJobRow?> GetAsync(DbConnection connection, DbTransaction transaction, string jobId, CancellationToken cancellationToken);

    /// <summary>
    /// Marks a job restored if it is still queued, never started and within grace at <paramref name="now"/>;
    /// false otherwise (a worker claimed it first, or grace ended).
    /// </summary>
    Task<bool> MarkRestoredAsync(DbConnection connection, DbTransaction transaction, string jobId, long now, CancellationToken cancellationToken);

    Task<IReadOnlyList<DeletionJobRow>> ListAsync(JobQuery query, CancellationToken cancellationToken);

    /// <summary>
    /// Puts a failed job back in the queue with a fresh set of attempts, inside the caller's
    /// transaction (so the audit entry commits with it). False when the job is not failed.
    /// </summary>
    Task<bool> RetryAsync(DbConnection connection, DbTransaction transaction, string jobId, CancellationToken cancellationToken);
}

public sealed class DeletionJobStore(IDatabase database) : IDeletionJobStore
{
    private const string Columns =
        "id, kind, target_id, scope, state, requested_by, requested_at, started_at, finished_at, lease_owner, lease_until, attempts, next_attempt_at, rows_removed, progress, error, purge_after, cutoff, parent";

    private static readonly string[] ColumnList = Columns.Split(", ");

    public Task InsertAsync(DbConnection connection, DbTransaction transaction, DeletionJobRow job, CancellationToken cancellationToken) =>
        InsertManyAsync(connection, transaction, [job], cancellationToken);

    public Task InsertManyAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<DeletionJobRow> jobs, CancellationToken cancellationToken) =>
        database.Dialect.InsertRowsAsync(connection, transaction, "deletion_jobs", ColumnList, jobs.Select(job => new object?[]
        {
            job.Id, job.Kind, job.TargetId, job.Scope, job.State, job.RequestedBy, job.RequestedAt, job.StartedAt, job.FinishedAt, job.LeaseOwner,
            job.LeaseUntil, job.Attempts, job.NextAttemptAt, job.RowsRemoved, job.Progress, job.Error, job.PurgeAfter, job.Cutoff, job.Parent,
        }).ToList(), returning: null, cancellationToken);

    public async Task<IReadOnlySet<string>> OpenTargetsAsync(DbConnection connection, DbTransaction? transaction, string kind, IReadOnlyList<string> targetIds, CancellationToken cancellationToken)
    {
        if (targetIds.Count == 0)
        {
            return new HashSet<string>(StringComparer.Ordinal);
        }

        var open = await connection.QueryAsync<string>(new CommandDefinition(
            $"SELECT DISTINCT target_id FROM deletion_jobs WHERE {database.Dialect.InListSql("target_id", "@targetIds")} AND kind = @kind AND state IN ('queued', 'running')",
            new { targetIds = targetIds.ToArray(), kind }, transaction, cancellationToken: cancellationToken));
        return open.ToHashSet(StringComparer.Ordinal);
    }

    public async Task<DeletionJobRow?> ClaimNextAsync(string nodeId, long now, long leaseUntil, CancellationToken cancellationToken)
    {
        using var turn = await database.EnterWriteQueueAsync(cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        var job = await ClaimNextAsync(connection, transaction, nodeId, now, leaseUntil, cancellationToken);
        if (job is not null)
        {
            await transaction.CommitAsync(cancellationToken);
        }

        return job;
    }

    public async Task<DeletionJobRow?> ClaimNextAsync(DbConnection connection, DbTransaction transaction, string nodeId, long now, long leaseUntil, CancellationToken cancellationToken)
    {
        var id = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            ClaimSql(database.Dialect),
            new { now }, transaction, cancellationToken: cancellationToken));
        if (id is null)
        {
            return null;
        }

        await database.Dialect.ExecuteAsync(
            connection,
            transaction,
            """
            UPDATE deletion_jobs
            SET state = 'running', lease_owner = @nodeId, lease_until = @leaseUntil,
                started_at = COALESCE(started_at, @now), attempts = attempts + 1, next_attempt_at = NULL
            WHERE id = @id
            """,
            [RowParameter.Of("@id", id), RowParameter.Of("@nodeId", nodeId), RowParameter.Of("@leaseUntil", leaseUntil), RowParameter.Of("@now", now)],
            cancellationToken);
        return await connection.QuerySingleAsync<DeletionJobRow>(new CommandDefinition(
            $"SELECT {Columns} FROM deletion_jobs WHERE id = @id", new { id }, transaction, cancellationToken: cancellationToken));
    }

    /// <summary>
    /// The next due job in claim order. It walks <c>ix_deletion_jobs_due</c> in order and stops at the
    /// first match; left to itself SQLite sorted every queued job instead (6 ms a claim with 10,000
    /// queued, all of it holding the single writer that scheduling waits for).
    /// </summary>
    internal static string ClaimSql(SqlDialect dialect) =>
        $"""
        SELECT id FROM deletion_jobs{dialect.UseIndex("ix_deletion_jobs_due")}
        WHERE state IN ('queued', 'running')
          AND (lease_until IS NULL OR lease_until < @now)
          AND (next_attempt_at IS NULL OR next_attempt_at <= @now)
          AND purge_after <= @now
        ORDER BY purge_after, requested_at, id
        LIMIT 1{dialect.SkipLockedClause}
        """;

    // Once or more per job, inside the batch's transaction: kept prepared where the dialect can.
    public async Task<bool> RecordBatchAsync(DbConnection connection, DbTransaction transaction, string jobId, string nodeId, long removed, string progressJson, long leaseUntil, CancellationToken cancellationToken) =>
        await database.Dialect.ExecuteAsync(
            connection,
            transaction,
            """
            UPDATE deletion_jobs
            SET rows_removed = rows_removed + @removed, progress = @progressJson, lease_until = @leaseUntil
            WHERE id = @jobId AND lease_owner = @nodeId AND state = 'running'
            """,
            [RowParameter.Of("@jobId", jobId), RowParameter.Of("@nodeId", nodeId), RowParameter.Of("@removed", removed), RowParameter.Of("@progressJson", progressJson), RowParameter.Of("@leaseUntil", leaseUntil)],
            cancellationToken) == 1;

    public async Task<bool> CompleteAsync(DbConnection connection, DbTransaction transaction, string jobId, string nodeId, long now, CancellationToken cancellationToken) =>
        await database.Dialect.ExecuteAsync(
            connection,
            transaction,
            """
            UPDATE deletion_jobs
            SET state = 'done', finished_at = @now, lease_owner = NULL, lease_until = NULL, error = NULL
            WHERE id = @jobId AND lease_owner = @nodeId AND state = 'running'
            """,
            [RowParameter.Of("@jobId", jobId), RowParameter.Of("@nodeId", nodeId), RowParameter.Of("@now", now)],
            cancellationToken) == 1;

    public async Task PostponeAsync(string jobId, string nodeId, string reason, long nextAttemptAt, CancellationToken cancellationToken)
    {
        using var turn = await database.EnterWriteQueueAsync(cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE deletion_jobs
            SET state = 'queued', lease_owner = NULL, lease_until = NULL, next_attempt_at = @nextAttemptAt, error = @reason, attempts = attempts - 1
            WHERE id = @jobId AND lease_owner = @nodeId AND state = 'running'
            """,
            new { jobId, nodeId, reason, nextAttemptAt }, cancellationToken: cancellationToken));
    }

    public async Task FailAsync(string jobId, string nodeId, string errorMessage, long now, long? nextAttemptAt, CancellationToken cancellationToken)
    {
        using var turn = await database.EnterWriteQueueAsync(cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE deletion_jobs
            SET state = CASE WHEN @nextAttemptAt IS NULL THEN 'failed' ELSE 'queued' END,
                finished_at = CASE WHEN @nextAttemptAt IS NULL THEN @now ELSE NULL END,
                lease_owner = NULL, lease_until = NULL, next_attempt_at = @nextAttemptAt, error = @errorMessage
            WHERE id = @jobId AND lease_owner = @nodeId
            """,
            new { jobId, nodeId, errorMessage, now, nextAttemptAt }, cancellationToken: cancellationToken));
    }

    public async Task<DeletionJobRow?> GetAsync(string jobId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<DeletionJobRow>(new CommandDefinition(
            $"SELECT {Columns} FROM deletion_jobs WHERE id = @jobId", new { jobId }, cancellationToken: cancellationToken));
    }

    public Task<DeletionJobRow?> GetAsync(DbConnection connection, DbTransaction transaction, string jobId, CancellationToken cancellationToken) =>
        connection.QuerySingleOrDefaultAsync<DeletionJobRow>(new CommandDefinition(
            $"SELECT {Columns} FROM deletion_jobs WHERE id = @jobId", new { jobId }, transaction, cancellationToken: cancellationToken));

    public async Task<bool> MarkRestoredAsync(DbConnection connection, DbTransaction transaction, string jobId, long now, CancellationToken cancellationToken) =>
        await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE deletion_jobs SET state = 'restored', finished_at = @now
            WHERE id = @jobId AND state = 'queued' AND started_at IS NULL AND purge_after > @now
            """,
            new { jobId, now }, transaction, cancellationToken: cancellationToken)) == 1;

    public async Task<IReadOnlyList<DeletionJobRow>> ListAsync(JobQuery query, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<DeletionJobRow>(new CommandDefinition(
            $"""
            SELECT {Columns} FROM deletion_jobs
            WHERE (@State IS NULL OR state = @State) AND (@Kind IS NULL OR kind = @Kind) AND (@Scope IS NULL OR scope = @Scope)
              AND (@TargetId IS NULL OR target_id = @TargetId)
              AND (@Parent IS NULL OR parent = @Parent)
              AND (@From IS NULL OR requested_at >= @From) AND (@To IS NULL OR requested_at < @To)
              AND (@BeforeAt IS NULL OR requested_at < @BeforeAt OR (requested_at = @BeforeAt AND id < @BeforeId))
            ORDER BY requested_at DESC, id DESC
            LIMIT @Limit
            """,
            new
            {
                query.State,
                query.Kind,
                query.Scope,
                query.TargetId,
                query.Parent,
                query.From,
                query.To,
                BeforeAt = query.Before?.RequestedAt,
                BeforeId = query.Before?.Id,
                query.Limit,
            },
            cancellationToken: cancellationToken));
        return rows.AsList();
    }

    public async Task<bool> RetryAsync(DbConnection connection, DbTransaction transaction, string jobId, CancellationToken cancellationToken) =>
        await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE deletion_jobs
            SET state = 'queued', attempts = 0, next_attempt_at = NULL, finished_at = NULL, lease_owner = NULL, lease_until = NULL
            WHERE id = @jobId AND state = 'failed'
            """,
            new { jobId }, transaction, cancellationToken: cancellationToken)) == 1;
}
