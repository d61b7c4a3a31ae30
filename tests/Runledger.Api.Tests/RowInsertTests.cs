using Dapper;
using Runledger.Api.Tests.Support;
using Runledger.Storage;

namespace Runledger.Api.Tests;

/// <summary>
/// <see cref="SqlDialect.InsertRowsAsync"/>, which writes every deletion job and audit entry (SQLite
/// steps one kept single-row statement per row, PostgreSQL sends multi-row VALUES in chunks), and
/// <see cref="SqlDialect.ExecuteAsync"/>, which marks each target of a delete, and <see cref="SqlDialect.ExecuteEachAsync"/>, which runs those marks together. All must store every
/// value as given (nulls too), stay inside the caller's transaction, and refuse a bad call without a
/// stale value of a kept statement leaking into the next one.
/// </summary>
public sealed class RowInsertTests
{
    private static readonly string[] Columns = ["id", "n", "x", "s"];

    private sealed record Row(long Seq, string Id, long? N, double? X, string? S);

    private static async Task<EmptyStore> StoreWithTableAsync(Provider provider)
    {
        var store = await EmptyStore.CreateAsync(provider);
        await using var connection = await store.Database.OpenAsync(CancellationToken.None);
        var seq = provider == Provider.Sqlite ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY";
        await connection.ExecuteAsync($"CREATE TABLE row_insert (seq {seq}, id TEXT NOT NULL UNIQUE, n BIGINT NULL, x DOUBLE PRECISION NULL, s TEXT NULL)");
        return store;
    }

    private static async Task<List<Row>> RowsAsync(IDatabase database)
    {
        await using var connection = await database.OpenAsync(CancellationToken.None);
        return (await connection.QueryAsync<Row>("SELECT seq, id, n, x, s FROM row_insert ORDER BY seq")).ToList();
    }

    private static async Task<long> InsertAsync(IDatabase database, IReadOnlyList<object?[]> rows, string? returning = "seq", bool commit = true)
    {
        await using var connection = await database.OpenAsync(CancellationToken.None);
        await using var transaction = await database.BeginWriteAsync(connection, CancellationToken.None);
        var largest = await database.Dialect.InsertRowsAsync(connection, transaction, "row_insert", Columns, rows, returning, CancellationToken.None);
        if (commit)
        {
            await transaction.CommitAsync();
        }

        return largest;
    }

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task EveryValueIsStoredAsGiven_AndTheLargestSequenceIsAnswered(Provider provider)
    {
        await using var store = await StoreWithTableAsync(provider);

        // 2,500 rows of 4 columns: more than one multi-row chunk on PostgreSQL (1,000 rows each).
        var rows = Enumerable.Range(0, 2_500).Select(i => i % 2 == 0
            ? new object?[] { $"r{i}", (long)i, i + 0.5, $"text {i}" }
            : [$"r{i}", i, null, null]).ToList();
        Assert.Equal(2_500, await InsertAsync(store.Database, rows));

        var stored = await RowsAsync(store.Database);
        Assert.Equal(2_500, stored.Count);
        Assert.Equal(new Row(1, "r0", 0, 0.5, "text 0"), stored[0]);
        Assert.Equal(new Row(2, "r1", 1, null, null), stored[1]);
        Assert.Equal(new Row(2_500, "r2499", 2_499, null, null), stored[^1]);

        // The next call continues the sequence; without RETURNING the answer is 0.
        Assert.Equal(2_501, await InsertAsync(store.Database, [["next", 7L, null, "n"]]));
        Assert.Equal(0, await InsertAsync(store.Database, [["unreturned", null, null, null]], returning: null));
        Assert.Equal(0, await InsertAsync(store.Database, []));
        Assert.Equal(new Row(2_502, "unreturned", null, null, null), (await RowsAsync(store.Database))[^1]);
    }

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task RowsStayInTheCallersTransaction_AndARollbackLeavesNone(Provider provider)
    {
        await using var store = await StoreWithTableAsync(provider);
        await InsertAsync(store.Database, [["a", 1L, null, null], ["b", 2L, null, null]], commit: false);
        Assert.Empty(await RowsAsync(store.Database));
    }

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task BadRows_AreRefused_AndTheNextInsertStoresOnlyItsOwnValues(Provider provider)
    {
        await using var store = await StoreWithTableAsync(provider);

        var wrongCount = await Assert.ThrowsAsync<ArgumentException>(() => InsertAsync(store.Database, [["a", 1L, null]]));
        Assert.Contains("3 values for 4 columns", wrongCount.Message);

        var wrongType = await Assert.ThrowsAsync<ArgumentException>(() => InsertAsync(store.Database, [["a", DateTime.UnixEpoch, null, null]]));
        Assert.Contains("row_insert.n: a DateTime cannot be inserted", wrongType.Message);

        // A duplicate key fails the statement; the caller's transaction is then rolled back whole,
        // so the row before it in the same call is gone too.
        await InsertAsync(store.Database, [["dup", 1L, 1.5, "first"]]);
        await Assert.ThrowsAnyAsync<System.Data.Common.DbException>(() => InsertAsync(store.Database, [["fresh", 2L, null, null], ["dup", 3L, null, null]]));

        // On SQLite the same kept statement serves the next call: nulls must not come back as the
        // values the failed call bound.
        await InsertAsync(store.Database, [["after", null, null, null]]);
        var stored = await RowsAsync(store.Database);
        Assert.Equal(["dup", "after"], stored.Select(r => r.Id));
        Assert.Equal(new Row(stored[^1].Seq, "after", null, null, null), stored[^1]);
    }

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task Execute_CountsTheRowsItChanged_BindsNulls_AndLeavesOutUnnamedParameters(Provider provider)
    {
        await using var store = await StoreWithTableAsync(provider);
        await InsertAsync(store.Database, [["a", 1L, null, "old"], ["b", 1L, null, "old"], ["c", 2L, null, "old"]]);
        const string update = "UPDATE row_insert SET s = @S WHERE n = @N AND id <> @Skip";

        async Task<int> UpdateAsync(params RowParameter[] parameters)
        {
            await using var connection = await store.Database.OpenAsync(CancellationToken.None);
            await using var transaction = await store.Database.BeginWriteAsync(connection, CancellationToken.None);
            var changed = await store.Database.Dialect.ExecuteAsync(connection, transaction, update, parameters, CancellationToken.None);
            await transaction.CommitAsync();
            return changed;
        }

        // @Scope is not in the SQL and is left out; @S counts as named although it also starts @Skip.
        Assert.Equal(2, await UpdateAsync(RowParameter.Of("@S", "new"), RowParameter.Of("@N", 1L), RowParameter.Of("@Skip", "none"), RowParameter.Of("@Scope", "x")));
        Assert.Equal(1, await UpdateAsync(RowParameter.Of("@S", (string?)null), RowParameter.Of("@N", 1L), RowParameter.Of("@Skip", "a")));
        Assert.Equal(0, await UpdateAsync(RowParameter.Of("@S", "never"), RowParameter.Of("@N", 9L), RowParameter.Of("@Skip", "none")));
        Assert.Equal([("a", "new"), ("b", null), ("c", "old")], (await RowsAsync(store.Database)).Select(r => (r.Id, r.S)));

        // A parameter the SQL names but the call lacks is refused, and changes nothing.
        async Task WithoutSkip() => await UpdateAsync(RowParameter.Of("@S", "lost"), RowParameter.Of("@N", 1L));
        if (provider == Provider.Sqlite)
        {
            Assert.Contains("the parameter @Skip, which is not given", (await Assert.ThrowsAsync<ArgumentException>(WithoutSkip)).Message);
        }
        else
        {
            await Assert.ThrowsAsync<Npgsql.PostgresException>(WithoutSkip);
        }

        Assert.Equal([("a", "new"), ("b", null), ("c", "old")], (await RowsAsync(store.Database)).Select(r => (r.Id, r.S)));
    }

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task ExecuteEach_AnswersEachRunsChanges_InOrder_AcrossBatches_InsideTheCallersTransaction(Provider provider)
    {
        await using var store = await StoreWithTableAsync(provider);
        var count = SqlDialect.StatementsPerBatch + 100;
        await InsertAsync(store.Database, Enumerable.Range(0, count).Select(i => new object?[] { $"r{i}", null, null, null }).ToList());
        const string mark = "UPDATE row_insert SET s = @Mark WHERE id = @Id AND s IS NULL";

        // Every row once, one missing id, and a repeat of r0: each run sees the runs before it, so the
        // repeat changes nothing. @Scope is not in the SQL and is left out, as in ExecuteAsync.
        IReadOnlyList<RowParameter> Item(string id, string? value) => [RowParameter.Of("@Id", id), RowParameter.Of("@Mark", value), RowParameter.Of("@Scope", "x")];
        var items = Enumerable.Range(0, count).Select(i => Item($"r{i}", $"m{i}")).Append(Item("missing", "m")).Append(Item("r0", "again")).ToList();

        async Task<int[]> RunAsync(bool commit)
        {
            await using var connection = await store.Database.OpenAsync(CancellationToken.None);
            await using var transaction = await store.Database.BeginWriteAsync(connection, CancellationToken.None);
            var changed = await store.Database.Dialect.ExecuteEachAsync(connection, transaction, mark, items, CancellationToken.None);
            if (commit)
            {
                await transaction.CommitAsync();
            }

            return changed;
        }

        // Rolled back, nothing stays, so the same runs change the same rows again.
        Assert.Equal(Enumerable.Repeat(1, count).Append(0).Append(0), await RunAsync(commit: false));
        Assert.All(await RowsAsync(store.Database), r => Assert.Null(r.S));

        Assert.Equal(Enumerable.Repeat(1, count).Append(0).Append(0), await RunAsync(commit: true));
        var stored = await RowsAsync(store.Database);
        Assert.Equal(Enumerable.Range(0, count).Select(i => ($"r{i}", (string?)$"m{i}")), stored.Select(r => (r.Id, r.S)));

        await using var idle = await store.Database.OpenAsync(CancellationToken.None);
        Assert.Empty(await store.Database.Dialect.ExecuteEachAsync(idle, null, mark, [], CancellationToken.None));
    }
}
