using Microsoft.Data.Sqlite;

namespace Runledger.Bench.Harness;

/// <summary>A temp folder as <c>Storage:DataDir</c>; the server creates <c>runledger.db</c> in it on start.</summary>
internal sealed class SqliteStoreProvider : IStoreProvider
{
    public string Name => "sqlite";

    public async Task<string> VersionAsync(CancellationToken cancellationToken)
    {
        await using var connection = new SqliteConnection("Data Source=:memory:");
        await connection.OpenAsync(cancellationToken);
        return "SQLite " + connection.ServerVersion;
    }

    public Task<IStore> CreateAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IStore>(new SqliteStore(Directory.CreateTempSubdirectory("runledger-bench-data-").FullName));
}

internal sealed class SqliteStore(string dataDir) : IStore
{
    // The schema is created by the server's migrations: seed only after /readyz answered 200.
    private string ConnectionString => new SqliteConnectionStringBuilder
    {
        DataSource = Path.Combine(dataDir, "runledger.db"),
        Mode = SqliteOpenMode.ReadWrite,
        Pooling = false,
        // Microsoft.Data.Sqlite retries SQLITE_BUSY until this timeout: the server may hold the write lock briefly.
        DefaultTimeout = 60,
    }.ToString();

    public IReadOnlyDictionary<string, string> ServerSettings => new Dictionary<string, string>
    {
        ["Storage:Provider"] = "sqlite",
        ["Storage:DataDir"] = dataDir,
    };

    public async Task SeedCompletedExecutionsAsync(string resourceGroup, int count, CancellationToken cancellationToken)
    {
        await using var connection = new SqliteConnection(ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < @n)
            INSERT INTO executions (id, resource_group, configuration_id, executable_id, scenario_id, target_status, status, created_at, modified_at)
            SELECT 'bench-' || i, @rg, @cfg, 'bench-exec', 'bench-scenario', 'COMPLETED', 'COMPLETED', i, i FROM s
            """;
        command.Parameters.AddWithValue("@n", count);
        command.Parameters.AddWithValue("@rg", resourceGroup);
        command.Parameters.AddWithValue("@cfg", BenchIds.Configuration);
        await command.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    public async Task<long> CountExecutionsAsync(string resourceGroup, CancellationToken cancellationToken)
    {
        await using var connection = new SqliteConnection(ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM executions WHERE resource_group = @rg";
        command.Parameters.AddWithValue("@rg", resourceGroup);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    public async Task SeedMetricPointsAsync(string resourceGroup, string executionId, int count, CancellationToken cancellationToken)
    {
        await using var connection = new SqliteConnection(ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            INSERT INTO metric_resources (id, resource_group, execution_id, created_at, modified_at, next_seq) VALUES (@resource, @rg, @execution, 1, 1, @n);
            WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < @n)
            INSERT INTO metric_points (resource_id, ts, step, seq, name, value, labels)
            SELECT @resource, 1700000000000 + i, i, i, 'loss', 1.0 / i, NULL FROM s;
            """;
        command.Parameters.AddWithValue("@resource", "bench-metrics-" + executionId);
        command.Parameters.AddWithValue("@rg", resourceGroup);
        command.Parameters.AddWithValue("@execution", executionId);
        command.Parameters.AddWithValue("@n", count);
        await command.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    public async Task<long> CountMetricPointsAsync(CancellationToken cancellationToken)
    {
        await using var connection = new SqliteConnection(ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM metric_points";
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    public ValueTask DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(dataDir, recursive: true);
        return ValueTask.CompletedTask;
    }
}
