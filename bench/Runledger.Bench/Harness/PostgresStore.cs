using System.Security.Cryptography;
using Npgsql;
using NpgsqlTypes;

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

    public async Task SeedExperimentsAsync(string projectId, string idPrefix, int experiments, int eventsPerExperiment, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            """
            INSERT INTO llm_experiments (id, org_id, project_id, name, experiment, status, author_id, created_at, updated_at, event_seq)
            SELECT @prefix || i, p.org_id, p.id, 'bench-' || i, 'bench', 'completed', 'bench', 1700000000000 + i, 1700000000000 + i, @spans + @metrics
            FROM generate_series(1, @experiments) AS i JOIN llm_projects p ON p.id = @project;
            INSERT INTO llm_experiment_spans (experiment_id, seq, id, span_id, trace_id, project_id, dataset_id, name, start_ns, duration, status, tags, meta)
            SELECT @prefix || e, s, @prefix || e || '-' || s, 'span-' || s, 'trace-' || s, @project, 'bench-dataset', 'bench', 1700000000000000000 + s, 1000000, 'ok', '[]', NULL
            FROM generate_series(1, @experiments) AS e CROSS JOIN generate_series(1, @spans) AS s;
            INSERT INTO llm_experiment_metrics (experiment_id, seq, id, span_id, metric_type, label, timestamp_ms, score_value, tags)
            SELECT @prefix || e, @spans + s, @prefix || e || '-m' || s, 'span-' || s, 'score', 'accuracy', 1700000000000 + s, 1.0 / s, '[]'
            FROM generate_series(1, @experiments) AS e CROSS JOIN generate_series(1, @metrics) AS s;
            ANALYZE llm_experiments;
            ANALYZE llm_experiment_spans;
            ANALYZE llm_experiment_metrics;
            """, connection);
        command.Parameters.AddWithValue("experiments", experiments);
        command.Parameters.AddWithValue("spans", (long)((eventsPerExperiment + 1) / 2));
        command.Parameters.AddWithValue("metrics", (long)(eventsPerExperiment / 2));
        command.Parameters.AddWithValue("prefix", idPrefix);
        command.Parameters.AddWithValue("project", projectId);
        command.CommandTimeout = 600;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<ExperimentCounts> CountExperimentsAsync(string projectId, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            """
            SELECT (SELECT COUNT(*) FROM llm_experiments WHERE project_id = @project AND deleting_job_id IS NULL),
                   (SELECT COUNT(*) FROM llm_experiments WHERE project_id = @project AND deleting_job_id IS NOT NULL),
                   (SELECT COUNT(*) FROM llm_experiment_spans) + (SELECT COUNT(*) FROM llm_experiment_metrics),
                   (SELECT COUNT(*) FROM llm_projects WHERE id = @project)
            """, connection);
        command.Parameters.AddWithValue("project", projectId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new ExperimentCounts(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
    }

    public async Task SeedRecordsAsync(string datasetId, int records, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var version = new NpgsqlCommand(
            """
            UPDATE llm_datasets SET current_version = 1, updated_at = @at WHERE id = @dataset AND current_version = 0;
            INSERT INTO llm_dataset_versions (dataset_id, version_number, id, created_at, last_used) VALUES (@dataset, 1, @version, @at, NULL);
            """, connection, transaction))
        {
            version.Parameters.AddWithValue("dataset", datasetId);
            version.Parameters.AddWithValue("version", Guid.NewGuid().ToString());
            version.Parameters.AddWithValue("at", BenchRecords.CreatedBase + records);
            await version.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var importer = await connection.BeginBinaryImportAsync(
            "COPY llm_records (dataset_id, id, version_from, version_to, input, expected_output, metadata, tags, input_hash, created_at, updated_at) FROM STDIN (FORMAT BINARY)",
            cancellationToken))
        {
            for (var i = 1; i <= records; i++)
            {
                var input = BenchRecords.Input(i);
                await importer.StartRowAsync(cancellationToken);
                await importer.WriteAsync(datasetId, NpgsqlDbType.Text, cancellationToken);
                await importer.WriteAsync(BenchRecords.Id(i), NpgsqlDbType.Text, cancellationToken);
                await importer.WriteAsync(1L, NpgsqlDbType.Bigint, cancellationToken);
                await importer.WriteNullAsync(cancellationToken);
                await importer.WriteAsync(input, NpgsqlDbType.Text, cancellationToken);
                await importer.WriteAsync(BenchRecords.ExpectedOutput(i), NpgsqlDbType.Text, cancellationToken);
                await importer.WriteNullAsync(cancellationToken);
                await importer.WriteNullAsync(cancellationToken);
                await importer.WriteAsync(BenchRecords.InputHash(input), NpgsqlDbType.Text, cancellationToken);
                await importer.WriteAsync(BenchRecords.CreatedBase + i, NpgsqlDbType.Bigint, cancellationToken);
                await importer.WriteAsync(BenchRecords.CreatedBase + i, NpgsqlDbType.Bigint, cancellationToken);
            }

            await importer.CompleteAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);

        // A production table this size has statistics (autovacuum); do not measure a plan made without them.
        await using var analyze = new NpgsqlCommand("ANALYZE llm_records; ANALYZE llm_datasets; ANALYZE llm_dataset_versions;", connection);
        analyze.CommandTimeout = 300;
        await analyze.ExecuteNonQueryAsync(cancellationToken);
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
