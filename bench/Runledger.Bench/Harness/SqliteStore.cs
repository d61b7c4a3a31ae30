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

    public async Task SeedExperimentsAsync(string projectId, string idPrefix, int experiments, int eventsPerExperiment, CancellationToken cancellationToken)
    {
        await using var connection = new SqliteConnection(ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        // Events in primary-key order (experiment, seq), as the server appends them.
        command.CommandText = """
            WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < @experiments)
            INSERT INTO llm_experiments (id, org_id, project_id, name, experiment, status, author_id, created_at, updated_at, event_seq)
            SELECT @prefix || i, p.org_id, p.id, 'bench-' || i, 'bench', 'completed', 'bench', 1700000000000 + i, 1700000000000 + i, @spans + @metrics
            FROM s JOIN llm_projects p ON p.id = @project;
            WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < @spans)
            INSERT INTO llm_experiment_spans (experiment_id, seq, id, span_id, trace_id, project_id, dataset_id, name, start_ns, duration, status, tags, meta)
            SELECT e.id, s.i, e.id || '-' || s.i, 'span-' || s.i, 'trace-' || s.i, e.project_id, 'bench-dataset', 'bench', 1700000000000000000 + s.i, 1000000, 'ok', '[]', NULL
            FROM llm_experiments e CROSS JOIN s WHERE e.project_id = @project ORDER BY e.id, s.i;
            WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < @metrics)
            INSERT INTO llm_experiment_metrics (experiment_id, seq, id, span_id, metric_type, label, timestamp_ms, score_value, tags)
            SELECT e.id, @spans + s.i, e.id || '-m' || s.i, 'span-' || s.i, 'score', 'accuracy', 1700000000000 + s.i, 1.0 / s.i, '[]'
            FROM llm_experiments e CROSS JOIN s WHERE e.project_id = @project ORDER BY e.id, s.i;
            """;
        command.Parameters.AddWithValue("@experiments", experiments);
        command.Parameters.AddWithValue("@spans", (eventsPerExperiment + 1) / 2);
        command.Parameters.AddWithValue("@metrics", eventsPerExperiment / 2);
        command.Parameters.AddWithValue("@prefix", idPrefix);
        command.Parameters.AddWithValue("@project", projectId);
        command.CommandTimeout = 600;
        await command.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        await CheckpointAsync(connection, cancellationToken);
    }

    /// <summary>
    /// A store that grew to a seed's size over many requests had its log checkpointed along the way:
    /// do not leave the server a write-ahead log of the whole seed to copy while it is measured.
    /// </summary>
    private static async Task CheckpointAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        await using var checkpoint = connection.CreateCommand();
        checkpoint.CommandText = "PRAGMA wal_checkpoint(TRUNCATE);";
        checkpoint.CommandTimeout = 600;
        await checkpoint.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<ExperimentCounts> CountExperimentsAsync(string projectId, CancellationToken cancellationToken)
    {
        await using var connection = new SqliteConnection(ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT (SELECT COUNT(*) FROM llm_experiments WHERE project_id = @project AND deleting_job_id IS NULL),
                   (SELECT COUNT(*) FROM llm_experiments WHERE project_id = @project AND deleting_job_id IS NOT NULL),
                   (SELECT COUNT(*) FROM llm_experiment_spans) + (SELECT COUNT(*) FROM llm_experiment_metrics),
                   (SELECT COUNT(*) FROM llm_projects WHERE id = @project)
            """;
        command.Parameters.AddWithValue("@project", projectId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new ExperimentCounts(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
    }

    public async Task SeedRecordsAsync(string datasetId, int records, CancellationToken cancellationToken)
    {
        await using var connection = new SqliteConnection(ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        await using (var version = connection.CreateCommand())
        {
            version.Transaction = transaction;
            version.CommandText = """
                UPDATE llm_datasets SET current_version = 1, updated_at = @at WHERE id = @dataset AND current_version = 0;
                INSERT INTO llm_dataset_versions (dataset_id, version_number, id, created_at, last_used) VALUES (@dataset, 1, @version, @at, NULL);
                """;
            version.Parameters.AddWithValue("@dataset", datasetId);
            version.Parameters.AddWithValue("@version", Guid.NewGuid().ToString());
            version.Parameters.AddWithValue("@at", BenchRecords.CreatedBase + records);
            await version.ExecuteNonQueryAsync(cancellationToken);
        }

        // One prepared single-row statement, re-bound per row (no per-row SQL, no multi-VALUES parameter scan).
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            INSERT INTO llm_records (dataset_id, id, version_from, version_to, input, expected_output, metadata, tags, input_hash, created_at, updated_at)
            VALUES ($dataset, $id, 1, NULL, $input, $expected, NULL, NULL, $hash, $at, $at)
            """;
        command.Parameters.AddWithValue("$dataset", datasetId);
        var id = command.Parameters.Add("$id", SqliteType.Text);
        var input = command.Parameters.Add("$input", SqliteType.Text);
        var expected = command.Parameters.Add("$expected", SqliteType.Text);
        var hash = command.Parameters.Add("$hash", SqliteType.Text);
        var at = command.Parameters.Add("$at", SqliteType.Integer);
        command.Prepare();
        for (var i = 1; i <= records; i++)
        {
            var text = BenchRecords.Input(i);
            id.Value = BenchRecords.Id(i);
            input.Value = text;
            expected.Value = BenchRecords.ExpectedOutput(i);
            hash.Value = BenchRecords.InputHash(text);
            at.Value = BenchRecords.CreatedBase + i;
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        await CheckpointAsync(connection, cancellationToken);
    }

    public ValueTask DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(dataDir, recursive: true);
        return ValueTask.CompletedTask;
    }
}
