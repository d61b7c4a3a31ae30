using Dapper;
using Runledger.Storage;

namespace Runledger.Api.Tests.Support;

/// <summary>Metric rows seeded directly for cascades large enough to follow batch by batch.</summary>
public static class MetricSeed
{
    /// <summary>One metric resource with points and attributes, set-based (both providers).</summary>
    public static async Task ResourceAsync(IDatabase database, string group, string resourceId, string executionId, int points, int attributes)
    {
        await using var connection = await database.OpenAsync(CancellationToken.None);
        await using var transaction = await database.BeginWriteAsync(connection, CancellationToken.None);
        const string series = "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < @n) ";
        await connection.ExecuteAsync(
            "INSERT INTO metric_resources (id, resource_group, execution_id, created_at, modified_at, next_seq) VALUES (@resourceId, @group, @executionId, 1, 1, @next)",
            new { resourceId, group, executionId, next = (long)points + 1 }, transaction);
        await connection.ExecuteAsync(series +
            "INSERT INTO metric_points (resource_id, ts, step, seq, name, value) SELECT @resourceId, i, i, i, 'loss', i FROM s",
            new { resourceId, n = (long)points }, transaction);
        await connection.ExecuteAsync(series +
            "INSERT INTO metric_attributes (resource_id, kind, name, value) SELECT @resourceId, 'tag', 'tag-' || i, 'v' FROM s",
            new { resourceId, n = (long)attributes }, transaction);
        await transaction.CommitAsync();
    }
}
