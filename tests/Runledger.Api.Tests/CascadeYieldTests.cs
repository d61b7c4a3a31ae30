using Dapper;
using Runledger.Api.Tests.Support;
using Runledger.Storage.Sqlite;

namespace Runledger.Api.Tests;

/// <summary>
/// <see cref="Runledger.Storage.IDatabase.YieldWhileRunning"/>, which the deletion worker holds while a
/// cascade's batches run: on SQLite the statements offer the core as they go, answer what they would
/// have answered, and stop offering it once it is disposed — before the native connection goes back
/// to the pool, where a request would otherwise yield with every query.
/// </summary>
public sealed class CascadeYieldTests
{
    // About 4 steps of SQLite's virtual machine per row: tens of thousands of steps in all.
    private const string Count = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000) SELECT COUNT(*) FROM n";

    [Fact]
    public async Task Sqlite_StatementsYield_WhileHeld_AndNotOnceDisposed()
    {
        await using var store = await EmptyStore.CreateAsync(Provider.Sqlite);
        var sqlite = (SqliteDatabase)store.Database;
        await using var connection = await sqlite.OpenAsync(CancellationToken.None);

        Assert.Equal(50_000L, await connection.ExecuteScalarAsync<long>(Count));
        Assert.Equal(0, sqlite.Yields);

        using (sqlite.YieldWhileRunning(connection))
        {
            Assert.Equal(50_000L, await connection.ExecuteScalarAsync<long>(Count));
        }

        var yielded = sqlite.Yields;
        Assert.InRange(yielded, 50_000 / SqliteDatabase.YieldSteps, 50_000);

        Assert.Equal(50_000L, await connection.ExecuteScalarAsync<long>(Count));
        Assert.Equal(yielded, sqlite.Yields);
    }

    [Fact]
    public async Task Sqlite_TheHandlerGoes_BeforeThePoolHandsTheConnectionOut()
    {
        await using var store = await EmptyStore.CreateAsync(Provider.Sqlite);
        var sqlite = (SqliteDatabase)store.Database;
        SQLitePCL.sqlite3 native;
        await using (var worker = await sqlite.OpenAsync(CancellationToken.None))
        {
            native = ((Microsoft.Data.Sqlite.SqliteConnection)worker).Handle!;
            var yielding = sqlite.YieldWhileRunning(worker);
            yielding.Dispose();
            yielding.Dispose(); // twice is harmless
        }

        // The pool hands out the same native connection: a request's query must not yield.
        await using var request = await sqlite.OpenAsync(CancellationToken.None);
        Assert.Same(native, ((Microsoft.Data.Sqlite.SqliteConnection)request).Handle);
        Assert.Equal(50_000L, await request.ExecuteScalarAsync<long>(Count));
        Assert.Equal(0, sqlite.Yields);
    }

    [Fact]
    public async Task Postgres_NothingChanges()
    {
        await using var store = await EmptyStore.CreateAsync(Provider.Postgres);
        await using var connection = await store.Database.OpenAsync(CancellationToken.None);
        using (store.Database.YieldWhileRunning(connection))
        {
            Assert.Equal(50_000L, await connection.ExecuteScalarAsync<long>(Count));
        }

        Assert.Equal(50_000L, await connection.ExecuteScalarAsync<long>(Count));
    }
}
