using Dapper;
using Microsoft.Data.Sqlite;
using Runledger.Storage.Sqlite;

namespace Runledger.Api.Tests;

/// <summary>
/// The SQLite write-ahead log is kept bounded: past <see cref="SqliteDatabase.RestartFrames"/> the
/// background checkpoint restarts it, so the next commit writes from the log's beginning instead of
/// appending to a log that grows to the 1 GiB backstop under steady writes. Real SQLite files.
/// </summary>
public sealed class WalRestartTests : IDisposable
{
    private const int Limit = 200;
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "runledger-tests", Guid.NewGuid().ToString("N"));
    private readonly SqliteDatabase _database;

    public WalRestartTests()
    {
        _database = new SqliteDatabase(Path.Combine(_directory, "runledger.db"), restartFrames: Limit);
    }

    [Fact]
    public async Task PastTheLimit_TheLogRestarts_AndEveryRowIsKept()
    {
        await CreateAsync();
        await WriteAsync(from: 1, count: 150); // two 4 KiB pages a commit: > 200 frames

        var (log, restarted) = await _database.CheckpointAsync(CancellationToken.None);
        Assert.True(log >= Limit, $"the log held {log} frames");
        Assert.True(restarted);

        await WriteAsync(from: 151, count: 1);
        var (after, _) = await _database.CheckpointAsync(CancellationToken.None);
        Assert.InRange(after, 1, 10); // the commit after the restart wrote from the log's start

        Assert.Equal((151L, 151L * 152 / 2), await ContentAsync());
    }

    [Fact]
    public async Task BelowTheLimit_TheCheckpointNeverWaitsForWriters()
    {
        await CreateAsync();
        await WriteAsync(from: 1, count: 20);

        // A writer holds the queue: a copy-only checkpoint goes on beside it.
        using (await _database.EnterWriteQueueAsync(CancellationToken.None))
        {
            var (log, restarted) = await _database.CheckpointAsync(CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.InRange(log, 20, Limit - 1);
            Assert.False(restarted);
        }

        Assert.Equal((20L, 20L * 21 / 2), await ContentAsync());
    }

    [Fact]
    public async Task PastTheLimit_TheRestartTakesItsTurnInTheWriteQueue()
    {
        await CreateAsync();
        await WriteAsync(from: 1, count: 150);

        var turn = await _database.EnterWriteQueueAsync(CancellationToken.None);
        var checkpoint = _database.CheckpointAsync(CancellationToken.None).AsTask();
        await Task.Delay(200);
        Assert.False(checkpoint.IsCompleted, "the restart went ahead while a writer had the queue");

        turn.Dispose();
        Assert.True((await checkpoint.WaitAsync(TimeSpan.FromSeconds(10))).Restarted);
    }

    [Fact]
    public async Task AReaderStillOnTheLog_PostponesTheRestart_UntilItIsDone()
    {
        await CreateAsync();
        await WriteAsync(from: 1, count: 150);

        // A reader whose snapshot ends inside the log, while later commits follow it.
        await using (var reader = new SqliteConnection($"Data Source={Path.Combine(_directory, "runledger.db")}"))
        {
            await reader.OpenAsync();
            await using var snapshot = reader.BeginTransaction(deferred: true);
            Assert.Equal(150L, await reader.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM wal_rows", transaction: snapshot));
            await WriteAsync(from: 151, count: 10);

            var (_, restarted) = await _database.CheckpointAsync(CancellationToken.None);
            Assert.False(restarted);
            Assert.Equal(150L, await reader.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM wal_rows", transaction: snapshot));
        }

        var (log, done) = await _database.CheckpointAsync(CancellationToken.None);
        Assert.True(done, $"no restart once the reader was gone (log {log} frames)");
        await WriteAsync(from: 161, count: 1);
        Assert.InRange((await _database.CheckpointAsync(CancellationToken.None)).LogFrames, 1, 10);
        Assert.Equal((161L, 161L * 162 / 2), await ContentAsync());
    }

    [Fact]
    public async Task Sync_ReachesTheDatabaseFileAndItsLog_ThroughSqlitesOwnFiles()
    {
        await CreateAsync();
        await WriteAsync(from: 1, count: 3);

        await using (var connection = (SqliteConnection)await _database.OpenAsync(CancellationToken.None))
        {
            Assert.Equal(3L, await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM wal_rows"));
            Assert.True(SqliteFiles.Sync(connection));
        }

        // A database without a file has nothing to sync; the connection stays usable.
        await using var memory = new SqliteConnection("Data Source=:memory:");
        await memory.OpenAsync();
        Assert.False(SqliteFiles.Sync(memory));
        Assert.Equal(1L, await memory.ExecuteScalarAsync<long>("SELECT 1"));
        Assert.Equal((3L, 6L), await ContentAsync());
    }

    [Fact]
    public async Task UnderSteadyWrites_TheLogRestarts_WhereWithoutTheLimitItGrows()
    {
        // The same 2 s of back-to-back commits, checkpointed every 20 ms, with the limit and without.
        var bounded = await SteadyWritesAsync(Limit);
        var unbounded = await SteadyWritesAsync(int.MaxValue);

        // With the limit the log restarts at every tick past it, so a tick sees about what was written
        // since the last one; without it, the log only grows (the largest is all that was written).
        // Measured: medians 1,300-3,000 frames against 7,000-250,000 without; 3x leaves room for a
        // loaded machine, where both the writer and the checkpoint slow down.
        Assert.True(bounded.Restarts > 1, $"{bounded.Restarts} restarts went through");
        Assert.True(bounded.MedianLog * 3 < unbounded.LargestLog, $"median log {bounded.MedianLog} frames with the limit; without it the log reached {unbounded.LargestLog}");
        Assert.Equal(bounded.Written, bounded.Rows);
        Assert.Equal(unbounded.Written, unbounded.Rows);
    }

    /// <summary>Commits rows back to back for 2 s while <see cref="SqliteDatabase.CheckpointAsync"/> runs every 20 ms; what the log held at each tick, and the rows kept.</summary>
    private async Task<(long MedianLog, long LargestLog, int Restarts, long Written, long Rows)> SteadyWritesAsync(int restartFrames)
    {
        using var database = new SqliteDatabase(Path.Combine(_directory, $"steady-{restartFrames}.db"), restartFrames: restartFrames);
        await using (var connection = await database.OpenAsync(CancellationToken.None))
        {
            await connection.ExecuteAsync("CREATE TABLE wal_rows (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)");
        }

        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        var writer = Task.Run(async () =>
        {
            var id = 0L;
            while (!stop.IsCancellationRequested)
            {
                using var turn = await database.EnterWriteQueueAsync(CancellationToken.None);
                await using var connection = await database.OpenAsync(CancellationToken.None);
                await using var transaction = await database.BeginWriteAsync(connection, CancellationToken.None);
                await connection.ExecuteAsync("INSERT INTO wal_rows (id, payload) VALUES (@id, zeroblob(4000))", new { id = ++id }, transaction);
                await transaction.CommitAsync();
            }

            return id;
        });
        var logs = new List<long>();
        var restarts = 0;
        while (!stop.IsCancellationRequested)
        {
            var (log, restarted) = await database.CheckpointAsync(CancellationToken.None);
            logs.Add(log);
            restarts += restarted ? 1 : 0;
            await Task.Delay(20);
        }

        var written = await writer;
        await using var check = await database.OpenAsync(CancellationToken.None);
        var rows = await check.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM wal_rows");
        logs.Sort();
        return (logs[logs.Count / 2], logs[^1], restarts, written, rows);
    }

    public void Dispose()
    {
        _database.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    private async Task CreateAsync()
    {
        await using var connection = await _database.OpenAsync(CancellationToken.None);
        await connection.ExecuteAsync("CREATE TABLE wal_rows (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)");
    }

    /// <summary>One commit per row, each through the write queue as the server writes: a 4 KiB payload, so every commit adds frames.</summary>
    private async Task WriteAsync(int from, int count)
    {
        for (var id = from; id < from + count; id++)
        {
            using var turn = await _database.EnterWriteQueueAsync(CancellationToken.None);
            await using var connection = await _database.OpenAsync(CancellationToken.None);
            await using var transaction = await _database.BeginWriteAsync(connection, CancellationToken.None);
            await connection.ExecuteAsync("INSERT INTO wal_rows (id, payload) VALUES (@id, zeroblob(4000))", new { id }, transaction);
            await transaction.CommitAsync();
        }
    }

    private async Task<(long Rows, long IdSum)> ContentAsync()
    {
        await using var connection = await _database.OpenAsync(CancellationToken.None);
        return await connection.QuerySingleAsync<(long, long)>("SELECT COUNT(*), COALESCE(SUM(id), 0) FROM wal_rows");
    }
}
