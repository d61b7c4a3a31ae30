using System.Security.Cryptography;
using Npgsql;

namespace Runledger.Bench.Harness;

/// <summary>
/// A fresh database per server run, created through the connection string given with
/// <c>--postgres</c> (which must be allowed to CREATE DATABASE) and dropped afterwards.
/// </summary>
internal sealed class PostgresStoreProvider(string adminConnectionString) : IStoreProvider
{
    public string Name => "postgres";

    public async Task<string> VersionAsync(CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(adminConnectionString);
        await connection.OpenAsync(cancellationToken);
        return "PostgreSQL " + connection.PostgreSqlVersion;
    }

    public async Task<IStore> CreateAsync(CancellationToken cancellationToken)
    {
        var database = "runledger_bench_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        await using (var connection = new NpgsqlConnection(adminConnectionString))
        {
            await connection.OpenAsync(cancellationToken);
            await using var command = new NpgsqlCommand($"CREATE DATABASE {database}", connection);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        var server = new NpgsqlConnectionStringBuilder(adminConnectionString) { Database = database }.ConnectionString;
        return new PostgresStore(adminConnectionString, server, database);
    }
}

internal sealed class PostgresStore(string adminConnectionString, string connectionString, string database) : IStore
{
    public IReadOnlyDictionary<string, string> ServerSettings => new Dictionary<string, string>
    {
        ["Storage:Provider"] = "postgres",
        ["Storage:Postgres"] = connectionString,
    };

    public async Task SeedCompletedExecutionsAsync(string resourceGroup, int count, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using (var command = new NpgsqlCommand(
            """
            INSERT INTO executions (id, resource_group, configuration_id, executable_id, scenario_id, target_status, status, created_at, modified_at)
            SELECT 'bench-' || i, @rg, @cfg, 'bench-exec', 'bench-scenario', 'COMPLETED', 'COMPLETED', i, i FROM generate_series(1, @n) AS i
            """, connection))
        {
            command.Parameters.AddWithValue("n", count);
            command.Parameters.AddWithValue("rg", resourceGroup);
            command.Parameters.AddWithValue("cfg", BenchIds.Configuration);
            command.CommandTimeout = 300;
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        // A production table this size has statistics (autovacuum); do not measure a plan made without them.
        await using var analyze = new NpgsqlCommand("ANALYZE executions", connection);
        await analyze.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task SeedMetricPointsAsync(string resourceGroup, string executionId, int count, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            """
            INSERT INTO metric_resources (id, resource_group, execution_id, created_at, modified_at, next_seq) VALUES (@resource, @rg, @execution, 1, 1, @n);
            INSERT INTO metric_points (resource_id, ts, step, seq, name, value, labels)
            SELECT @resource, 1700000000000 + i, i, i, 'loss', 1.0 / i, NULL FROM generate_series(1, @n) AS i;
            ANALYZE metric_points;
            """, connection);
        command.Parameters.AddWithValue("resource", "bench-metrics-" + executionId);
        command.Parameters.AddWithValue("rg", resourceGroup);
        command.Parameters.AddWithValue("execution", executionId);
        command.Parameters.AddWithValue("n", (long)count);
        command.CommandTimeout = 600;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<long> CountMetricPointsAsync(CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT COUNT(*) FROM metric_points", connection);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    public async Task<long> CountExecutionsAsync(string resourceGroup, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT COUNT(*) FROM executions WHERE resource_group = @rg", connection);
        command.Parameters.AddWithValue("rg", resourceGroup);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(adminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {database} WITH (FORCE)", connection);
        await command.ExecuteNonQueryAsync();
    }
}
