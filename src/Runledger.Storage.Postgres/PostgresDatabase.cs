using System.Data.Common;
using Npgsql;
using NpgsqlTypes;
using Runledger.Storage.Metrics;
using Runledger.Storage.Migrations;

namespace Runledger.Storage.Postgres;

/// <summary>PostgreSQL for several nodes on one database.</summary>
public sealed class PostgresDatabase(NpgsqlDataSource dataSource) : IDatabase, IAsyncDisposable
{
    private static readonly IReadOnlyList<Migration> EmbeddedMigrations = MigrationRunner.LoadEmbedded(typeof(PostgresDatabase).Assembly);

    /// <summary>
    /// The data source for <paramref name="connectionString"/>. Unless it says otherwise, statements
    /// run twice on a physical connection are prepared there (Npgsql's automatic preparation, up to
    /// 64 per connection): the hot reads and writes are the same few texts, and PostgreSQL otherwise
    /// parses and plans each of them on every request.
    /// </summary>
    public static PostgresDatabase Create(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        var compact = connectionString.Replace(" ", "", StringComparison.Ordinal);
        if (!compact.Contains("MaxAutoPrepare", StringComparison.OrdinalIgnoreCase))
        {
            builder.MaxAutoPrepare = 64;
            builder.AutoPrepareMinUsages = 2;
        }

        return new(NpgsqlDataSource.Create(builder.ConnectionString));
    }

    public string ProviderName => "postgres";

    public SqlDialect Dialect { get; } = new PostgresDialect();

    public IReadOnlyList<Migration> Migrations => EmbeddedMigrations;

    public async ValueTask<DbConnection> OpenAsync(CancellationToken cancellationToken) =>
        await dataSource.OpenConnectionAsync(cancellationToken);

    public async ValueTask<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken) =>
        await connection.BeginTransactionAsync(cancellationToken);

    public ValueTask<IDisposable> EnterWriteQueueAsync(CancellationToken cancellationToken) => ValueTask.FromResult<IDisposable>(NoQueue.Instance);

    public bool WritersWaiting => false;

    public ValueTask MaintainAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask DisposeAsync() => dataSource.DisposeAsync();

    private sealed class NoQueue : IDisposable
    {
        public static readonly NoQueue Instance = new();

        public void Dispose()
        {
        }
    }
}

internal sealed partial class PostgresDialect : SqlDialect
{
    // Arbitrary but fixed keys for pg_advisory_lock: one for migrations, one for the audit chain.
    private const long MigrationLockKey = 0x52756E6C6467_01;
    private const long AuditLockKey = 0x52756E6C6467_02;
    private const long HoldLockKey = 0x52756E6C6467_03;

    public override string SkipLockedClause => " FOR UPDATE SKIP LOCKED";

    // Dapper passes a list to Npgsql as one array parameter.
    public override string ForShareClause => " FOR SHARE";

    public override string InListSql(string column, string parameter) => $"{column} = ANY({parameter})";

    public override string ContainsSql(string column, string parameter) => $"strpos({column}, {parameter}) > 0";

    public override string JsonContainsSql(string column, string parameter) => $"({column})::jsonb @> ({parameter})::jsonb";

    public override string BatchDeleteSql(string table, string where, IReadOnlyList<string>? keyColumns = null) =>
        $"DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} WHERE {where} LIMIT @Limit))";

    /// <summary>Binary COPY: one round trip for the whole batch.</summary>
    public override async Task InsertMetricPointsAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<MetricPointRow> points, CancellationToken cancellationToken)
    {
        if (points.Count == 0)
        {
            return;
        }

        await using var importer = await ((NpgsqlConnection)connection).BeginBinaryImportAsync(
            "COPY metric_points (resource_id, ts, step, seq, name, value, labels) FROM STDIN (FORMAT BINARY)", cancellationToken);
        foreach (var point in points)
        {
            await importer.StartRowAsync(cancellationToken);
            await importer.WriteAsync(point.ResourceId, NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(point.Ts, NpgsqlDbType.Bigint, cancellationToken);
            await importer.WriteAsync(point.Step, NpgsqlDbType.Bigint, cancellationToken);
            await importer.WriteAsync(point.Seq, NpgsqlDbType.Bigint, cancellationToken);
            await importer.WriteAsync(point.Name, NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(point.Value, NpgsqlDbType.Double, cancellationToken);
            if (point.Labels is null)
            {
                await importer.WriteNullAsync(cancellationToken);
            }
            else
            {
                await importer.WriteAsync(point.Labels, NpgsqlDbType.Text, cancellationToken);
            }
        }

        await importer.CompleteAsync(cancellationToken);
    }

    public override async Task LockAuditChainAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"SELECT pg_advisory_xact_lock({AuditLockKey})", (NpgsqlConnection)connection, (NpgsqlTransaction)transaction);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public override async Task<bool> TryLockAuditChainAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"SELECT pg_try_advisory_xact_lock({AuditLockKey})", (NpgsqlConnection)connection, (NpgsqlTransaction)transaction);
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    public override async Task LockHoldsAsync(DbConnection connection, DbTransaction transaction, bool exclusive, CancellationToken cancellationToken)
    {
        var function = exclusive ? "pg_advisory_xact_lock" : "pg_advisory_xact_lock_shared";
        await using var command = new NpgsqlCommand($"SELECT {function}({HoldLockKey})", (NpgsqlConnection)connection, (NpgsqlTransaction)transaction);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public override async Task<IAsyncDisposable> AcquireMigrationLockAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        var npgsql = (NpgsqlConnection)connection;
        await using (var command = new NpgsqlCommand($"SELECT pg_advisory_lock({MigrationLockKey})", npgsql))
        {
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        return new Release(npgsql);
    }

    private sealed class Release(NpgsqlConnection connection) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await using var command = new NpgsqlCommand($"SELECT pg_advisory_unlock({MigrationLockKey})", connection);
            await command.ExecuteNonQueryAsync();
        }
    }
}
