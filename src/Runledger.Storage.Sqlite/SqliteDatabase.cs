using System.Data.Common;
using System.Runtime.CompilerServices;
using System.Text;
using Dapper;
using Microsoft.Data.Sqlite;
using Runledger.Storage.Metrics;
using Runledger.Storage.Migrations;
using SQLitePCL;

namespace Runledger.Storage.Sqlite;

/// <summary>
/// The embedded default: one SQLite file in WAL mode. SQLite has one writer at a time, so every
/// write transaction is BEGIN IMMEDIATE and waits (busy timeout) instead of failing midway.
/// </summary>
public sealed class SqliteDatabase : IDatabase, IDisposable
{
    private static readonly IReadOnlyList<Migration> EmbeddedMigrations = MigrationRunner.LoadEmbedded(typeof(SqliteDatabase).Assembly);
    private readonly string _connectionString;
    private readonly SemaphoreSlim _writeQueue = new(1, 1);

    public SqliteDatabase(string filePath, int busyTimeoutMilliseconds = 30_000, int restartFrames = DefaultRestartFrames)
    {
        RestartFrames = restartFrames;
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

    /// <summary>Frames of log after which <see cref="CheckpointAsync"/> restarts it (<see cref="DefaultRestartFrames"/>).</summary>
    public int RestartFrames { get; }

    public string ProviderName => "sqlite";

    public SqlDialect Dialect { get; } = new SqliteDialect();

    public IReadOnlyList<Migration> Migrations => EmbeddedMigrations;

    public async ValueTask<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);

            // PRAGMAs belong to the native connection, which the pool keeps open and hands out
            // again: set them once per native connection, not on every open (the four of them
            // cost about as much as a small query).
            var handle = connection.Handle!;
            if (!_configured.TryGetValue(handle, out _))
            {
                await using var command = connection.CreateCommand();
                // The host checkpoints in the background (MaintainAsync); a writer only does it itself
                // when the log has grown past AutoCheckpointPages because that fell behind.
                command.CommandText = $"PRAGMA busy_timeout = {BusyTimeoutMilliseconds}; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = {AutoCheckpointPages};";
                await command.ExecuteNonQueryAsync(cancellationToken);
                _configured.AddOrUpdate(handle, Configured);
            }

            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>Native connections whose PRAGMAs are set; an entry goes with its handle when the pool closes it.</summary>
    private readonly ConditionalWeakTable<sqlite3, object> _configured = new();

    private static readonly object Configured = new();

    /// <summary>
    /// Pages (4 KiB) of write-ahead log after which a committing writer checkpoints itself: 1 GiB, a
    /// backstop only. The background checkpoint (MaintainAsync, four times a second, which restarts
    /// the log past <see cref="RestartFrames"/>) keeps the log below it; a lower limit made every
    /// ~30th request of a write-heavy load (e.g. 100-record deletes, ~300 dirty pages each) copy
    /// 40 MiB into the database and fsync inside its own commit.
    /// </summary>
    private const int AutoCheckpointPages = 262_144;

    /// <summary>
    /// Frames (4 KiB pages) of write-ahead log after which maintenance restarts the log from its
    /// start: 256 MiB. A passive checkpoint copies frames into the database but never rewinds the log;
    /// SQLite rewinds it only when a writer begins while every frame is copied and no reader still
    /// reads from the log, which under steady writes (a bulk delete's jobs: ≈ 280 MB of log a second
    /// on 2 cores) never happened: the log grew to the 1 GiB backstop, from then on every commit
    /// checkpointed and synced the database itself (the commit that crossed it took 50–60 ms), and
    /// each page look-up searched the log's index of up to 64 segments of 4,096 frames. A restart
    /// holds writers for the frames committed while the passive checkpoint ran (15–30 ms measured at
    /// that write rate), so it is not done more often: with 64 MiB it came four times a second.
    /// </summary>
    public const int DefaultRestartFrames = 65_536;

    /// <summary>
    /// A passive checkpoint; when the log has reached <see cref="RestartFrames"/>, a RESTART
    /// checkpoint (it copies what the passive one could not) in this process's write queue, so that
    /// the next writer starts the log from its beginning. Writers wait for the queue's turn (woken the
    /// moment it ends) instead of sleeping in SQLite's busy handler (1, 2, 5, 10 … ms), and the restart
    /// does not wait for readers either: one still reading from the log makes it give up until the
    /// next tick (a restart that waited up to 100 ms for readers held PATCHes for 60 ms). Answers the
    /// log's size in frames at the passive checkpoint, and whether a restart went through.
    /// </summary>
    public async ValueTask<(long LogFrames, bool Restarted)> CheckpointAsync(CancellationToken cancellationToken)
    {
        await using var connection = (SqliteConnection)await OpenAsync(cancellationToken);
        var (_, log) = await WalCheckpointAsync(connection, "PASSIVE", cancellationToken);
        if (log < RestartFrames)
        {
            return (log, false);
        }

        // Passive checkpoints copy pages into the database file but sync it only when they reach the
        // log's end, which under steady writes they never do: the restart's own sync would then
        // write out every page copied since the last restart, with writers held (16-35 ms measured
        // in the bench's bulk deletes). Synced here, beside the writers, it leaves the restart the
        // frames committed meanwhile (median ~7 ms, 2-28).
        _ = SqliteFiles.Sync(connection);

        using var turn = await EnterWriteQueueAsync(cancellationToken);
        await SetBusyTimeoutAsync(connection, 0, cancellationToken);
        long busy;
        try
        {
            (busy, _) = await WalCheckpointAsync(connection, "RESTART", cancellationToken);
        }
        catch
        {
            await RestoreBusyTimeoutAsync(connection);
            throw;
        }

        await RestoreBusyTimeoutAsync(connection);
        return (log, busy == 0);
    }

    private static async Task SetBusyTimeoutAsync(SqliteConnection connection, int milliseconds, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA busy_timeout = {milliseconds};";
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Puts the pooled connection back to the busy timeout every connection has; if that fails, closes
    /// it instead (left at 0, it would fail the next writer at once rather than wait) and throws.
    /// </summary>
    private async Task RestoreBusyTimeoutAsync(SqliteConnection connection)
    {
        try
        {
            await SetBusyTimeoutAsync(connection, BusyTimeoutMilliseconds, CancellationToken.None);
        }
        catch (SqliteException)
        {
            SqliteConnection.ClearPool(connection);
            throw;
        }
    }

    public async ValueTask MaintainAsync(CancellationToken cancellationToken) => await CheckpointAsync(cancellationToken);

    /// <summary>Runs <c>PRAGMA wal_checkpoint(mode)</c>: whether it was stopped short (1) and the log's size in frames.</summary>
    private static async Task<(long Busy, long Log)> WalCheckpointAsync(SqliteConnection connection, string mode, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA wal_checkpoint({mode});";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? (reader.GetInt64(0), reader.GetInt64(1)) : (1, 0);
    }

    public void Dispose() => _writeQueue.Dispose();

    public async ValueTask<IDisposable> EnterWriteQueueAsync(CancellationToken cancellationToken)
    {
        if (_writeQueue.Wait(0, CancellationToken.None))
        {
            return new Turn(_writeQueue);
        }

        Interlocked.Increment(ref _waiting);
        try
        {
            await _writeQueue.WaitAsync(cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }

        return new Turn(_writeQueue);
    }

    public bool WritersWaiting => Volatile.Read(ref _waiting) > 0;

    private int _waiting;

    private sealed class Turn(SemaphoreSlim queue) : IDisposable
    {
        private SemaphoreSlim? _queue = queue;

        public void Dispose() => Interlocked.Exchange(ref _queue, null)?.Release();
    }

    public ValueTask<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken) =>
        // Microsoft.Data.Sqlite issues BEGIN IMMEDIATE unless the transaction is deferred.
        ValueTask.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: false));
}

internal sealed partial class SqliteDialect : SqlDialect
{
    // One writer at a time: a BEGIN IMMEDIATE transaction already excludes other claimers.
    public override string SkipLockedClause => "";

    /// <remarks>
    /// SQLite has no statistics unless ANALYZE ran, and then guesses that an equality on an index
    /// column matches about ten rows: it would rather sort every queued job than walk a partial index
    /// in order. Failing loudly when the index is gone is intended (a migration dropped it).
    /// </remarks>
    public override string UseIndex(string index) => $" INDEXED BY {index}";

    // Dapper expands a list parameter into (@p1, @p2, …) for SQLite.
    public override string ForShareClause => "";

    public override string InListSql(string column, string parameter) => $"{column} IN {parameter}";

    public override string ContainsSql(string column, string parameter) => $"instr({column}, {parameter}) > 0";

    public override string JsonContainsSql(string column, string parameter) =>
        $"""
        NOT EXISTS (SELECT 1 FROM json_each({parameter}) f WHERE NOT EXISTS (
          SELECT 1 FROM json_each({column}) m WHERE m.key = f.key AND (
            (f.type = 'array' AND m.type = 'array' AND NOT EXISTS (SELECT 1 FROM json_each(f.value) fe WHERE NOT EXISTS (
              SELECT 1 FROM json_each(m.value) me WHERE me.type = fe.type AND me.atom IS fe.atom AND (fe.atom IS NOT NULL OR fe.type = 'null' OR me.value = fe.value))))
            OR (f.type <> 'array' AND m.type = f.type AND m.atom IS f.atom AND (f.atom IS NOT NULL OR f.type = 'null' OR m.value = f.value)))))
        """;

    public override string BatchDeleteSql(string table, string where, IReadOnlyList<string>? keyColumns = null)
    {
        var key = keyColumns is { Count: > 0 } ? "(" + string.Join(", ", keyColumns) + ")" : "rowid";
        var select = keyColumns is { Count: > 0 } ? string.Join(", ", keyColumns) : "rowid";
        return $"DELETE FROM {table} WHERE {key} IN (SELECT {select} FROM {table} WHERE {where} LIMIT @Limit)";
    }

    /// <summary>
    /// For a table keyed on several columns (a WITHOUT ROWID table such as metric_points, keyed
    /// (resource_id, ts, step, seq)), a batch is a range of the key instead of a list of keys: the
    /// first key prefix that has rows, the key of the limit-th row within it, then one DELETE of
    /// everything up to that key. SQLite walks the primary key once instead of seeking every row,
    /// about three times faster (1,000,000 points: ≈ 2,000,000 rows/s against ≈ 430,000 measured
    /// with the sqlite3 shell). A prefix with fewer rows than the limit is removed whole and the
    /// next one continues the batch. Other tables: the statement of <see cref="BatchDeleteSql"/>.
    /// <para>
    /// The prefix is looked up with <paramref name="where"/>; inside its range the boundary and the
    /// DELETE test only <paramref name="rangeWhere"/> when the child gives one ("" for nothing),
    /// else <paramref name="where"/> again on every row. For an execution's points that per-row test
    /// is a look-up in the subquery's list of its resources, and dropping it took the cascade from
    /// ≈ 330,000 to ≈ 760,000–920,000 rows/s.
    /// </para>
    /// <para>
    /// With a <paramref name="walk"/>, the prefixes come from the owners' own index, one page of them
    /// at a time; a prefix is left behind once its range is empty. When the walk has passed every
    /// owner, <paramref name="where"/> looks once more for a prefix with rows, so the batch that ends
    /// the child is the one that found nothing left, as without a walk. A project of 1,000
    /// experiments: each look-up with the where materialised the 1,000 ids and probed the emptied
    /// experiments again.
    /// </para>
    /// </summary>
    public override async Task<int> DeleteBatchAsync(
        DbConnection connection, DbTransaction transaction, string table, string where, IReadOnlyList<string>? keyColumns, string? rangeWhere, KeyPrefixWalk? walk, DynamicParameters parameters, int limit, CancellationToken cancellationToken)
    {
        if (keyColumns is not { Count: >= 2 })
        {
            return await base.DeleteBatchAsync(connection, transaction, table, where, keyColumns, rangeWhere, walk, parameters, limit, cancellationToken);
        }

        var inRange = rangeWhere switch
        {
            null => $"({where}) AND ",
            "" => "",
            _ => $"({rangeWhere}) AND ",
        };

        var prefix = keyColumns[0];
        var rest = keyColumns.Skip(1).ToList();
        var restList = string.Join(", ", rest);
        var boundary = string.Join(", ", rest.Select((_, i) => $"@BatchKey{i}"));
        var removed = 0;
        while (removed < limit)
        {
            var first = walk is null ? null : await walk.CurrentAsync(connection, transaction, parameters, cancellationToken);
            var walked = first is not null;
            first ??= await connection.ExecuteScalarAsync<object?>(new CommandDefinition(
                $"SELECT {prefix} FROM {table} WHERE {where} ORDER BY {prefix} LIMIT 1", parameters, transaction, cancellationToken: cancellationToken));
            if (first is null)
            {
                break;
            }

            parameters.Add("BatchPrefix", first);
            parameters.Add("BatchOffset", limit - removed - 1);
            var last = await connection.QueryFirstOrDefaultAsync(new CommandDefinition(
                $"SELECT {restList} FROM {table} WHERE {inRange}{prefix} = @BatchPrefix ORDER BY {restList} LIMIT 1 OFFSET @BatchOffset",
                parameters, transaction, cancellationToken: cancellationToken));
            string upTo = "";
            if (last is IDictionary<string, object?> row)
            {
                for (var i = 0; i < rest.Count; i++)
                {
                    parameters.Add($"BatchKey{i}", row[rest[i]]);
                }

                upTo = $" AND ({restList}) <= ({boundary})";
            }
            else if (walked)
            {
                // Fewer rows than the batch has room for: the DELETE below empties the prefix.
                walk!.Advance();
            }

            removed += await connection.ExecuteAsync(new CommandDefinition(
                $"DELETE FROM {table} WHERE {inRange}{prefix} = @BatchPrefix{upTo}", parameters, transaction, cancellationToken: cancellationToken));
        }

        return removed;
    }

    /// <summary>
    /// One prepared INSERT bound through SQLitePCL.raw on the connection's own handle (so it is part
    /// of the caller's transaction): per-row cost is a few bind calls and one step, several times
    /// faster than going through SqliteCommand parameters.
    /// </summary>
    public override Task InsertMetricPointsAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<MetricPointRow> points, CancellationToken cancellationToken)
    {
        if (points.Count == 0)
        {
            return Task.CompletedTask;
        }

        var db = ((SqliteConnection)connection).Handle!;
        var rc = raw.sqlite3_prepare_v2(db, "INSERT INTO metric_points (resource_id, ts, step, seq, name, value, labels) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", out var statement);
        SqliteException.ThrowExceptionForRC(rc, db);
        // A batch repeats a few resource ids and metric names thousands of times: encode each once.
        var utf8 = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        byte[] Utf8(string text)
        {
            if (!utf8.TryGetValue(text, out var bytes))
            {
                utf8[text] = bytes = Encoding.UTF8.GetBytes(text);
            }

            return bytes;
        }

        string? lastLabels = null;
        byte[] lastLabelBytes = [];
        using (statement)
        {
            foreach (var point in points)
            {
                cancellationToken.ThrowIfCancellationRequested();
                raw.sqlite3_bind_text(statement, 1, Utf8(point.ResourceId));
                raw.sqlite3_bind_int64(statement, 2, point.Ts);
                raw.sqlite3_bind_int64(statement, 3, point.Step);
                raw.sqlite3_bind_int64(statement, 4, point.Seq);
                raw.sqlite3_bind_text(statement, 5, Utf8(point.Name));
                raw.sqlite3_bind_double(statement, 6, point.Value);
                if (point.Labels is null)
                {
                    raw.sqlite3_bind_null(statement, 7);
                }
                else
                {
                    // The parser hands the same string instance to every point of one label set.
                    if (!ReferenceEquals(point.Labels, lastLabels))
                    {
                        (lastLabels, lastLabelBytes) = (point.Labels, Encoding.UTF8.GetBytes(point.Labels));
                    }

                    raw.sqlite3_bind_text(statement, 7, lastLabelBytes);
                }

                rc = raw.sqlite3_step(statement);
                if (rc != raw.SQLITE_DONE)
                {
                    SqliteException.ThrowExceptionForRC(rc, db);
                }

                raw.sqlite3_reset(statement);
            }
        }

        return Task.CompletedTask;
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
