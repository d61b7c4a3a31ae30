using System.Data.Common;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging.Abstractions;
using Runledger.Storage.Metrics;
using Runledger.Storage.Migrations;
using Runledger.Storage.Sqlite;

namespace Runledger.Bench.Micro;

/// <summary>
/// The store side of metric ingest on SQLite, on a real database file with the server's own
/// migrations: the dialect's batch insert of 1,000 points (bound through SQLitePCL.raw, rolled
/// back so the table does not grow between iterations), and the whole group write of
/// <see cref="MetricStore.AppendAsync"/> (execution check, resource upsert, sequence reservation,
/// insert, commit); and the pooled connection open that every store call starts with.
/// </summary>
[MemoryDiagnoser]
public class SqliteMetricBatch : IDisposable
{
    private const string ExecutionId = "bench-1";
    private string _directory = "";
    private SqliteDatabase? _database;
    private MetricStore? _store;
    private DbConnection? _connection;
    private List<MetricPointRow> _rows = [];
    private List<MetricPointInput> _inputs = [];

    [Params(1_000)]
    public int Points { get; set; }

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _directory = Directory.CreateTempSubdirectory("runledger-micro-").FullName;
        _database = new SqliteDatabase(Path.Combine(_directory, "runledger.db"));
        await new MigrationRunner(_database, TimeProvider.System, NullLogger<MigrationRunner>.Instance).ApplyAsync(CancellationToken.None);
        _connection = await _database.OpenAsync(CancellationToken.None);
        await using (var command = _connection.CreateCommand())
        {
            command.CommandText = $"""
                INSERT INTO executions (id, resource_group, configuration_id, executable_id, scenario_id, target_status, status, created_at, modified_at)
                VALUES ('{ExecutionId}', 'default', 'cfg-bench', 'bench-exec', 'bench-scenario', 'RUNNING', 'RUNNING', 1, 1)
                """;
            await command.ExecuteNonQueryAsync();
        }

        _store = new MetricStore(_database);
        _inputs = Enumerable.Range(0, Points).Select(i => new MetricPointInput(i % 2 == 0 ? "loss" : "accuracy", 0.5 + (i * 1e-4), 1_700_000_000_000 + i, i, null)).ToList();
        _rows = _inputs.Select((p, i) => new MetricPointRow("AAAAAAAAAAA", p.Ts, p.Step, i, p.Name, p.Value, p.Labels)).ToList();
    }

    [Benchmark]
    public async Task InsertMetricPointsRolledBack()
    {
        await using var transaction = await _database!.BeginWriteAsync(_connection!, CancellationToken.None);
        await _database.Dialect.InsertMetricPointsAsync(_connection!, transaction, _rows, CancellationToken.None);
        await transaction.RollbackAsync();
    }

    [Benchmark]
    public async Task<bool> AppendBatchCommitted()
    {
        var stored = await _store!.AppendAsync("default", ExecutionId, _inputs, [], 1_700_000_000_000, CancellationToken.None);
        return stored ? true : throw new InvalidOperationException($"Execution {ExecutionId} was not found: nothing was stored.");
    }

    /// <summary>What every store call pays first: a pooled connection open (PRAGMAs only on a new native connection).</summary>
    [Benchmark]
    public async Task OpenConnection()
    {
        await using var connection = await _database!.OpenAsync(CancellationToken.None);
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _connection?.Dispose();
        _connection = null;
        _database?.Dispose();
        _database = null;
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }

        GC.SuppressFinalize(this);
    }
}
