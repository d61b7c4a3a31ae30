using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Dapper;
using Runledger.Storage.Diagnostics;

namespace Runledger.Storage.Metrics;

public sealed record MetricPointRow(string ResourceId, long Ts, long Step, long Seq, string Name, double Value, string? Labels);

public sealed class MetricResourceRow
{
    public required string Id { get; init; }
    public required string ResourceGroup { get; init; }
    public required string ExecutionId { get; init; }
    public long CreatedAt { get; init; }
    public long ModifiedAt { get; init; }
}

public sealed record MetricAttributeRow(string ResourceId, string Kind, string Name, string Value);

/// <summary>A point to append; <c>Step</c> is -1 when the point has none.</summary>
public sealed record MetricPointInput(string Name, double Value, long Ts, long Step, string? Labels);

public static class MetricAttributeKinds
{
    public const string Tag = "tag";
    public const string CustomInfo = "custom";
}

public interface IMetricStore
{
    /// <summary>
    /// Appends points and merges tags/customInfo (same name replaces the value) in ONE write
    /// transaction. False, with nothing stored, when the execution does not exist in the group or
    /// is being deleted.
    /// </summary>
    Task<bool> AppendAsync(string resourceGroup, string executionId, IReadOnlyList<MetricPointInput> points, IReadOnlyList<MetricAttributeRow> attributes, long now, CancellationToken cancellationToken);

    /// <summary>The live (not being deleted) metric resources of these executions in the group.</summary>
    Task<IReadOnlyList<MetricResourceRow>> ListLiveAsync(string resourceGroup, IReadOnlyList<string> executionIds, CancellationToken cancellationToken);

    /// <summary>Points of one resource in read order (timestamp, then step), streamed from the reader: nothing is buffered.</summary>
    IAsyncEnumerable<MetricPointRow> StreamPointsAsync(string resourceId, CancellationToken cancellationToken);

    Task<IReadOnlyList<MetricAttributeRow>> ListAttributesAsync(IReadOnlyList<string> resourceIds, CancellationToken cancellationToken);

    /// <summary>How many points one metric (by name) of a resource has, and its smallest step (-1: some point has none); counted in SQL.</summary>
    Task<MetricNameStats> GetNameStatsAsync(string resourceId, string name, CancellationToken cancellationToken);

    /// <summary>
    /// The points of one metric (by name) of a resource in read order (timestamp, step, seq), streamed.
    /// With a timestamp window only those with <paramref name="fromTs"/> ≤ ts ≤ <paramref name="toTs"/>
    /// (either end may be open) are read from the primary key's range, plus the last point before the
    /// window and the first after it (a chart draws its line on to the window's edges).
    /// </summary>
    IAsyncEnumerable<MetricPointRow> StreamNamedPointsAsync(string resourceId, string name, long? fromTs, long? toTs, CancellationToken cancellationToken);
}

/// <summary>A metric's point count and smallest step (-1 when some point has no step; 0 when there are no points).</summary>
public sealed record MetricNameStats(long Count, long MinStep);

/// <summary>
/// Stores metric batches with group commit: concurrent PATCH requests queue their batches, and
/// whoever holds the write turn writes every queued batch (up to a bound) in ONE transaction, so
/// one commit and one round of bookkeeping serve many requests. Each batch still succeeds or
/// fails on its own (a batch for a missing execution stores nothing; the others are unaffected).
/// </summary>
public sealed class MetricStore(IDatabase database) : IMetricStore
{
    /// <summary>Points written in one group transaction at most (the batch that starts a group is always taken whole).</summary>
    private const int MaxGroupPoints = 32_000;

    private readonly ConcurrentQueue<PendingAppend> _pending = new();
    private readonly Lock _takeLock = new();

    /// <summary>Batches queued and not yet taken into a group (diagnostics; tests wait on it).</summary>
    public int QueuedBatches => _pending.Count;

    public async Task<bool> AppendAsync(string resourceGroup, string executionId, IReadOnlyList<MetricPointInput> points, IReadOnlyList<MetricAttributeRow> attributes, long now, CancellationToken cancellationToken)
    {
        var mine = new PendingAppend(resourceGroup, executionId, points, attributes, now);
        _pending.Enqueue(mine);
        while (!mine.Done.Task.IsCompleted)
        {
            IDisposable turn;
            try
            {
                turn = await database.EnterWriteQueueAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                // Still queued: no group will take it now (a group that already took it writes it anyway).
                mine.Done.TrySetCanceled(cancellationToken);
                throw;
            }

            using var held = turn;
            var group = TakeGroup();
            if (group.Count == 0)
            {
                // Another writer took this batch in its group (PostgreSQL writes groups concurrently).
                break;
            }

            // Once a group is taken its batches are written whatever happens to the request that
            // took it: the other requests are waiting for their answers.
            await WriteAndAnswerAsync(group);
        }

        return await mine.Done.Task;
    }

    private List<PendingAppend> TakeGroup()
    {
        var group = new List<PendingAppend>();
        var total = 0;

        // Peek and dequeue under one lock: on PostgreSQL several writers take groups at once, and
        // without it the batch dequeued could be another than the one whose size was checked.
        lock (_takeLock)
        {
            while (_pending.TryPeek(out var next) && (group.Count == 0 || total + next.Points.Count <= MaxGroupPoints))
            {
                _pending.TryDequeue(out _);
                if (next.Done.Task.IsCompleted)
                {
                    continue; // its request gave up while it waited
                }

                group.Add(next);
                total += next.Points.Count;
            }
        }

        return group;
    }

    /// <summary>
    /// Writes a group and answers each of its requests. When a statement of the group fails before
    /// its commit, nothing of the group was stored: each batch is then written again in a
    /// transaction of its own, so the failing batch fails alone and the others are still committed
    /// before they are answered. A failed commit is not retried (whether it took effect is unknown).
    /// </summary>
    private async Task WriteAndAnswerAsync(List<PendingAppend> group)
    {
        var outcome = await TryWriteGroupAsync(group);
        if (outcome.Stored is { } stored)
        {
            for (var i = 0; i < group.Count; i++)
            {
                group[i].Done.TrySetResult(stored[i]);
            }

            return;
        }

        if (group.Count == 1 || outcome.Committing)
        {
            group.ForEach(p => p.Done.TrySetException(outcome.Error!));
            return;
        }

        foreach (var append in group)
        {
            var alone = await TryWriteGroupAsync([append]);
            if (alone.Stored is { } one)
            {
                append.Done.TrySetResult(one[0]);
            }
            else
            {
                append.Done.TrySetException(alone.Error!);
            }
        }
    }

    private async Task<(bool[]? Stored, Exception? Error, bool Committing)> TryWriteGroupAsync(List<PendingAppend> group)
    {
        var progress = new GroupProgress();
        try
        {
            return (await WriteGroupAsync(group, progress, CancellationToken.None), null, false);
        }
        catch (Exception ex)
        {
            return (null, ex, progress.Committing);
        }
    }

    private sealed class GroupProgress
    {
        public bool Committing { get; set; }
    }

    /// <summary>
    /// Writes the group in one transaction, executions in a fixed order (so that concurrent groups
    /// on PostgreSQL lock rows in the same order and cannot deadlock), batches of one execution in
    /// arrival order. Returns, per batch, whether it was stored.
    /// </summary>
    private async Task<bool[]> WriteGroupAsync(List<PendingAppend> group, GroupProgress progress, CancellationToken cancellationToken)
    {
        using var activity = RunledgerTelemetry.Source.StartActivity("metrics.write_group");
        activity?.SetTag("runledger.batches", group.Count);
        var stored = new bool[group.Count];
        var order = Enumerable.Range(0, group.Count).OrderBy(i => group[i].ExecutionId, StringComparer.Ordinal).ThenBy(i => i).ToList();
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        var rows = new List<MetricPointRow>(group.Sum(p => p.Points.Count));
        foreach (var i in order)
        {
            var append = group[i];
            // Locks the execution row against a concurrent delete until this group commits.
            var live = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                $"SELECT id FROM executions WHERE id = @ExecutionId AND resource_group = @ResourceGroup AND deleting_job_id IS NULL{database.Dialect.ForShareClause}",
                append, transaction, cancellationToken: cancellationToken));
            if (live is null)
            {
                continue;
            }

            await connection.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO metric_resources (id, resource_group, execution_id, created_at, modified_at, next_seq)
                VALUES (@id, @ResourceGroup, @ExecutionId, @Now, @Now, 0)
                ON CONFLICT (execution_id) WHERE deleting_job_id IS NULL DO NOTHING
                """,
                new { id = NewResourceId(), append.ResourceGroup, append.ExecutionId, append.Now }, transaction, cancellationToken: cancellationToken));

            // Reserve a range of sequence numbers for this batch on the live resource (its row lock
            // orders concurrent batches of one execution). On PostgreSQL a concurrent DELETE may have
            // marked the resource after the insert above found it live: then there is none, and this
            // batch is refused like one for an execution being deleted (nothing of it was written).
            var reserved = await connection.QuerySingleOrDefaultAsync<(string? Id, long NextSeq)>(new CommandDefinition(
                """
                UPDATE metric_resources SET next_seq = next_seq + @Count, modified_at = @Now
                WHERE execution_id = @ExecutionId AND deleting_job_id IS NULL
                RETURNING id, next_seq
                """,
                new { append.ExecutionId, append.Now, Count = (long)append.Points.Count }, transaction, cancellationToken: cancellationToken));
            if (reserved.Id is not { } resourceId)
            {
                continue;
            }

            var first = reserved.NextSeq - append.Points.Count;
            for (var p = 0; p < append.Points.Count; p++)
            {
                var point = append.Points[p];
                rows.Add(new MetricPointRow(resourceId, point.Ts, point.Step, first + p, point.Name, point.Value, point.Labels));
            }

            if (append.Attributes.Count > 0)
            {
                await connection.ExecuteAsync(new CommandDefinition(
                    """
                    INSERT INTO metric_attributes (resource_id, kind, name, value) VALUES (@ResourceId, @Kind, @Name, @Value)
                    ON CONFLICT (resource_id, kind, name) DO UPDATE SET value = excluded.value
                    """,
                    append.Attributes.Select(a => a with { ResourceId = resourceId }), transaction, cancellationToken: cancellationToken));
            }

            stored[i] = true;
        }

        await database.Dialect.InsertMetricPointsAsync(connection, transaction, rows, cancellationToken);
        progress.Committing = true;
        await transaction.CommitAsync(cancellationToken);
        RunledgerTelemetry.MetricPointsIngested.Add(rows.Count);
        RunledgerTelemetry.MetricIngestGroupSize.Record(group.Count);
        return stored;
    }

    /// <summary>
    /// 11 characters (64 random bits, base64url). The id is repeated in the key of every point, so
    /// a short one keeps rows small: a 32-character GUID made a point's row almost twice as large.
    /// </summary>
    private static string NewResourceId() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(8));

    private sealed record PendingAppend(string ResourceGroup, string ExecutionId, IReadOnlyList<MetricPointInput> Points, IReadOnlyList<MetricAttributeRow> Attributes, long Now)
    {
        public TaskCompletionSource<bool> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public async Task<IReadOnlyList<MetricResourceRow>> ListLiveAsync(string resourceGroup, IReadOnlyList<string> executionIds, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<MetricResourceRow>(new CommandDefinition(
            $"""
            SELECT m.id, m.resource_group, m.execution_id, m.created_at, m.modified_at
            FROM metric_resources m JOIN executions e ON e.id = m.execution_id
            WHERE m.resource_group = @resourceGroup AND {database.Dialect.InListSql("m.execution_id", "@executionIds")}
              AND m.deleting_job_id IS NULL AND e.deleting_job_id IS NULL
            """,
            new { resourceGroup, executionIds }, cancellationToken: cancellationToken))).AsList();
    }

    public async IAsyncEnumerable<MetricPointRow> StreamPointsAsync(string resourceId, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT ts, step, seq, name, value, labels FROM metric_points WHERE resource_id = @resourceId ORDER BY ts, step, seq";
        command.AddParameter("resourceId", resourceId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            yield return new MetricPointRow(
                resourceId, reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetString(3), reader.GetDouble(4), reader.IsDBNull(5) ? null : reader.GetString(5));
        }
    }

    public async Task<IReadOnlyList<MetricAttributeRow>> ListAttributesAsync(IReadOnlyList<string> resourceIds, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<MetricAttributeRow>(new CommandDefinition(
            $"""
            SELECT resource_id AS ResourceId, kind AS Kind, name AS Name, value AS Value
            FROM metric_attributes WHERE {database.Dialect.InListSql("resource_id", "@resourceIds")}
            ORDER BY resource_id, kind, name
            """,
            new { resourceIds }, cancellationToken: cancellationToken))).AsList();
    }

    public async Task<MetricNameStats> GetNameStatsAsync(string resourceId, string name, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var (count, minStep) = await connection.QuerySingleAsync<(long, long)>(new CommandDefinition(
            "SELECT COUNT(*), COALESCE(MIN(step), 0) FROM metric_points WHERE resource_id = @resourceId AND name = @name",
            new { resourceId, name }, cancellationToken: cancellationToken));
        return new MetricNameStats(count, minStep);
    }

    public async IAsyncEnumerable<MetricPointRow> StreamNamedPointsAsync(string resourceId, string name, long? fromTs, long? toTs, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        const string select = "SELECT ts, step, seq, name, value, labels FROM metric_points WHERE resource_id = @resourceId AND name = @name";
        await using var connection = await database.OpenAsync(cancellationToken);
        var parts = new List<string>(3);
        if (fromTs is not null)
        {
            parts.Add($"{select} AND ts < @fromTs ORDER BY ts DESC, step DESC, seq DESC LIMIT 1");
        }

        parts.Add($"{select}{(fromTs is null ? "" : " AND ts >= @fromTs")}{(toTs is null ? "" : " AND ts <= @toTs")} ORDER BY ts, step, seq");
        if (toTs is not null)
        {
            parts.Add($"{select} AND ts > @toTs ORDER BY ts, step, seq LIMIT 1");
        }

        // Three range reads on the primary key (resource_id, ts, step, seq), one after another: the
        // point before the window, the window in order, the point after it.
        foreach (var sql in parts)
        {
            await using var command = connection.CreateCommand();
            command.CommandText = sql;
            command.AddParameter("resourceId", resourceId);
            command.AddParameter("name", name);
            if (fromTs is not null)
            {
                command.AddParameter("fromTs", fromTs.Value);
            }

            if (toTs is not null)
            {
                command.AddParameter("toTs", toTs.Value);
            }

            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                yield return new MetricPointRow(
                    resourceId, reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetString(3), reader.GetDouble(4), reader.IsDBNull(5) ? null : reader.GetString(5));
            }
        }
    }
}
