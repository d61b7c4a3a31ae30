using System.Data.Common;
using Microsoft.Data.Sqlite;
using Runledger.Storage.Metrics;
using Runledger.Storage.Migrations;

namespace Runledger.Storage.Sqlite;

/// <summary>
/// The embedded default: one SQLite file in WAL mode. SQLite has one writer at a time, so every
/// write transaction is BEGIN IMMEDIATE and waits (busy timeout) instead of failing midway.
/// </summary>
public sealed class SqliteDatabase : IDatabase
{
    private static readonly IReadOnlyList<Migration> EmbeddedMigrations = MigrationRunner.LoadEmbedded(typeof(SqliteDatabase).Assembly);
    private readonly string _connectionString;

    public SqliteDatabase(string filePath, int busyTimeoutMilliseconds = 30_000)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(filePath));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        FilePath = Path.GetFullPath(filePath);
        BusyTimeoutMilliseconds = busyTimeoutMilliseconds;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = FilePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = Math.Max(1, busyTimeoutMilliseconds / 1000),
        }.ToString();

        // WAL is a property of the file: set it once, not on every open.
        using var connection = new SqliteConnection(_connectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode = WAL;";
        command.ExecuteNonQuery();
    }

    public string FilePath { get; }

    public int BusyTimeoutMilliseconds { get; }

    public string ProviderName => "sqlite";

    public SqlDialect Dialect { get; } = new SqliteDialect();

    public IReadOnlyList<Migration> Migrations => EmbeddedMigrations;

    public async ValueTask<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            await using var command = connection.CreateCommand();
            command.CommandText = $"PRAGMA busy_timeout = {BusyTimeoutMilliseconds}; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;";
            await command.ExecuteNonQueryAsync(cancellationToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    public ValueTask<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken) =>
        // Microsoft.Data.Sqlite issues BEGIN IMMEDIATE unless the transaction is deferred.
        ValueTask.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: false));
}

internal sealed class SqliteDialect : SqlDialect
{
    // One writer at a time: a BEGIN IMMEDIATE transaction already excludes other claimers.
    public override string SkipLockedClause => "";

    // Dapper expands a list parameter into (@p1, @p2, …) for SQLite.
    public override string ForShareClause => "";

    public override string InListSql(string column, string parameter) => $"{column} IN {parameter}";

    public override string ContainsSql(string column, string parameter) => $"instr({column}, {parameter}) > 0";

    public override string BatchDeleteSql(string table, string where, IReadOnlyList<string>? keyColumns = null)
    {
        var key = keyColumns is { Count: > 0 } ? "(" + string.Join(", ", keyColumns) + ")" : "rowid";
        var select = keyColumns is { Count: > 0 } ? string.Join(", ", keyColumns) : "rowid";
        return $"DELETE FROM {table} WHERE {key} IN (SELECT {select} FROM {table} WHERE {where} LIMIT @Limit)";
    }

    /// <summary>One prepared single-row INSERT reused for every point: the fastest path Microsoft.Data.Sqlite offers.</summary>
    public override async Task InsertMetricPointsAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<MetricPointRow> points, CancellationToken cancellationToken)
    {
        if (points.Count == 0)
        {
            return;
        }

        await using var command = (SqliteCommand)connection.CreateCommand();
        command.Transaction = (SqliteTransaction)transaction;
        command.CommandText = "INSERT INTO metric_points (resource_id, ts, step, seq, name, value, labels) VALUES ($r, $t, $s, $q, $n, $v, $l)";
        var resource = command.Parameters.Add("$r", SqliteType.Text);
        var ts = command.Parameters.Add("$t", SqliteType.Integer);
        var step = command.Parameters.Add("$s", SqliteType.Integer);
        var seq = command.Parameters.Add("$q", SqliteType.Integer);
        var name = command.Parameters.Add("$n", SqliteType.Text);
        var value = command.Parameters.Add("$v", SqliteType.Real);
        var labels = command.Parameters.Add("$l", SqliteType.Text);
        command.Prepare();
        foreach (var point in points)
        {
            resource.Value = point.ResourceId;
            ts.Value = point.Ts;
            step.Value = point.Step;
            seq.Value = point.Seq;
            name.Value = point.Name;
            value.Value = point.Value;
            labels.Value = (object?)point.Labels ?? DBNull.Value;
            command.ExecuteNonQuery();
        }
    }

    public override Task LockAuditChainAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken) =>
        Task.CompletedTask;

    public override async Task<IAsyncDisposable> AcquireMigrationLockAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        // Each migration runs in its own BEGIN IMMEDIATE transaction and re-checks its version,
        // which is all the mutual exclusion two processes on one file need.
        await Task.CompletedTask;
        return NoLock.Instance;
    }

    private sealed class NoLock : IAsyncDisposable
    {
        public static readonly NoLock Instance = new();

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
