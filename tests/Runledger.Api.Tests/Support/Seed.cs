using Dapper;
using Runledger.Storage;

namespace Runledger.Api.Tests.Support;

/// <summary>Set-based seeding of AI API rows that a resource group owns (one statement per table, both providers).</summary>
public static class Seed
{
    public static async Task OwnedRowsAsync(IDatabase database, string resourceGroup, int count)
    {
        await using var connection = await database.OpenAsync(CancellationToken.None);
        await using var transaction = await database.BeginWriteAsync(connection, CancellationToken.None);
        var args = new { rg = resourceGroup, n = (long)count, prefix = resourceGroup + "-" };
        const string series = "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < @n) ";
        await connection.ExecuteAsync(series +
            "INSERT INTO configurations (id, resource_group, name, scenario_id, executable_id, parameter_bindings, input_artifact_bindings, created_at) " +
            "SELECT @prefix || 'cfg-' || i, @rg, 'config', 'scenario', 'executable', '[]', '[]', i FROM s WHERE i <= 10", args, transaction);
        await connection.ExecuteAsync(series +
            "INSERT INTO executions (id, resource_group, configuration_id, target_status, status, created_at, modified_at) " +
            "SELECT @prefix || 'ex-' || i, @rg, @prefix || 'cfg-1', 'COMPLETED', 'COMPLETED', i, i FROM s", args, transaction);
        await connection.ExecuteAsync(series +
            "INSERT INTO execution_logs (resource_group, execution_id, seq, ts, stream, msg) " +
            "SELECT @rg, @prefix || 'ex-1', i, i, 'stdout', 'line ' || i FROM s", args, transaction);
        await transaction.CommitAsync();
    }

    public static async Task<long> CountOwnedAsync(IDatabase database, string resourceGroup)
    {
        await using var connection = await database.OpenAsync(CancellationToken.None);
        return await connection.ExecuteScalarAsync<long>(
            "SELECT (SELECT COUNT(*) FROM configurations WHERE resource_group = @rg) + (SELECT COUNT(*) FROM executions WHERE resource_group = @rg) + (SELECT COUNT(*) FROM execution_logs WHERE resource_group = @rg)",
            new { rg = resourceGroup });
    }
}
