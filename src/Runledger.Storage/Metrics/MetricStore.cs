using System.Runtime.CompilerServices;
using Dapper;

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
}

public sealed class MetricStore(IDatabase database) : IMetricStore
{
    public async Task<bool> AppendAsync(string resourceGroup, string executionId, IReadOnlyList<MetricPointInput> points, IReadOnlyList<MetricAttributeRow> attributes, long now, CancellationToken cancellationToken)
    {
        using var turn = await database.EnterWriteQueueAsync(cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        // Locks the execution row against a concurrent delete until this batch commits.
        var live = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            $"SELECT id FROM executions WHERE id = @executionId AND resource_group = @resourceGroup AND deleting_job_id IS NULL{database.Dialect.ForShareClause}",
            new { executionId, resourceGroup }, transaction, cancellationToken: cancellationToken));
        if (live is null)
        {
            return false;
        }

        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO metric_resources (id, resource_group, execution_id, created_at, modified_at, next_seq)
            VALUES (@id, @resourceGroup, @executionId, @now, @now, 0)
            ON CONFLICT (execution_id) WHERE deleting_job_id IS NULL DO NOTHING
            """,
            new { id = Guid.CreateVersion7().ToString("N"), resourceGroup, executionId, now }, transaction, cancellationToken: cancellationToken));

        // Reserve a range of sequence numbers for this batch on the live resource (its row lock
        // orders concurrent batches of one execution).
        var reserved = await connection.QuerySingleAsync<(string Id, long NextSeq)>(new CommandDefinition(
            """
            UPDATE metric_resources SET next_seq = next_seq + @count, modified_at = @now
            WHERE execution_id = @executionId AND deleting_job_id IS NULL
            RETURNING id, next_seq
            """,
            new { executionId, now, count = (long)points.Count }, transaction, cancellationToken: cancellationToken));
        var first = reserved.NextSeq - points.Count;
        var rows = new MetricPointRow[points.Count];
        for (var i = 0; i < rows.Length; i++)
        {
            var point = points[i];
            rows[i] = new MetricPointRow(reserved.Id, point.Ts, point.Step, first + i, point.Name, point.Value, point.Labels);
        }

        await database.Dialect.InsertMetricPointsAsync(connection, transaction, rows, cancellationToken);
        if (attributes.Count > 0)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO metric_attributes (resource_id, kind, name, value) VALUES (@ResourceId, @Kind, @Name, @Value)
                ON CONFLICT (resource_id, kind, name) DO UPDATE SET value = excluded.value
                """,
                attributes.Select(a => a with { ResourceId = reserved.Id }), transaction, cancellationToken: cancellationToken));
        }

        await transaction.CommitAsync(cancellationToken);
        return true;
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
        var parameter = command.CreateParameter();
        parameter.ParameterName = "resourceId";
        parameter.Value = resourceId;
        command.Parameters.Add(parameter);
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
}
