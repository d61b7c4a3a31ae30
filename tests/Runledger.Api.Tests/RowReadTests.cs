using Dapper;
using Runledger.Api.Tests.Support;
using Runledger.Storage;

namespace Runledger.Api.Tests;

/// <summary>
/// <see cref="SqlDialect.QueryRowAsync{T}"/>, the read behind every GET of an execution or a
/// dataset: SQLite keeps its statement prepared on the pooled native connection, so these check
/// what that must never change: every committed write is seen, no read snapshot is left open in
/// the pool, a transaction sees its own writes, and a wrong call fails without poisoning the next.
/// </summary>
public sealed class RowReadTests
{
    private const string ReadSql = "SELECT id, n, s FROM row_read WHERE id = @id";

    private sealed record Row(string Id, long N, string? S);

    private static Row Map(IRowReader row) => new(row.GetString(0), row.GetInt64(1), row.GetNullableString(2));

    private static async Task<Row?> ReadAsync(IDatabase database, string id, string sql = ReadSql)
    {
        await using var connection = await database.OpenAsync(CancellationToken.None);
        return await database.Dialect.QueryRowAsync(connection, null, sql, [RowParameter.Of("@id", id)], Map, CancellationToken.None);
    }

    private static async Task<EmptyStore> StoreWithRowAsync(Provider provider)
    {
        var store = await EmptyStore.CreateAsync(provider);
        await using var connection = await store.Database.OpenAsync(CancellationToken.None);
        await connection.ExecuteAsync("CREATE TABLE row_read (id TEXT PRIMARY KEY, n BIGINT NOT NULL, s TEXT NULL)");
        await connection.ExecuteAsync("INSERT INTO row_read (id, n, s) VALUES ('a', 1, NULL), ('b', 2, 'two')");
        return store;
    }

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task EveryCommittedWrite_IsSeenByTheNextRead_AndNoSnapshotStaysOpen(Provider provider)
    {
        await using var store = await StoreWithRowAsync(provider);
        Assert.Equal(new Row("a", 1, null), await ReadAsync(store.Database, "a"));
        Assert.Equal(new Row("b", 2, "two"), await ReadAsync(store.Database, "b"));
        Assert.Null(await ReadAsync(store.Database, "missing"));

        for (var n = 10; n < 15; n++)
        {
            await using (var writer = await store.Database.OpenAsync(CancellationToken.None))
            {
                await writer.ExecuteAsync("UPDATE row_read SET n = @n, s = @s WHERE id = 'a'", new { n, s = $"v{n}" });
            }

            Assert.Equal(new Row("a", n, $"v{n}"), await ReadAsync(store.Database, "a"));
        }

        if (provider == Provider.Sqlite)
        {
            // A statement left on a row would pin its snapshot, and a full checkpoint could not
            // finish while it waits in the pool: (busy, log pages, checkpointed pages) = (0, n, n).
            await using var connection = await store.Database.OpenAsync(CancellationToken.None);
            var (busy, log, done) = await connection.QuerySingleAsync<(long, long, long)>("PRAGMA wal_checkpoint(TRUNCATE)");
            Assert.Equal(0, busy);
            Assert.Equal(log, done);
        }
    }

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task InsideATransaction_TheReadSeesItsOwnWrite_AndAfterRollbackTheOldRow(Provider provider)
    {
        await using var store = await StoreWithRowAsync(provider);
        await using (var connection = await store.Database.OpenAsync(CancellationToken.None))
        await using (var transaction = await store.Database.BeginWriteAsync(connection, CancellationToken.None))
        {
            await connection.ExecuteAsync("UPDATE row_read SET n = 99 WHERE id = 'b'", transaction: transaction);
            var inside = await store.Database.Dialect.QueryRowAsync(connection, transaction, ReadSql, [RowParameter.Of("@id", "b")], Map, CancellationToken.None);
            Assert.Equal(new Row("b", 99, "two"), inside);
            await transaction.RollbackAsync();
        }

        Assert.Equal(new Row("b", 2, "two"), await ReadAsync(store.Database, "b"));
    }

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task WrongParameters_Fail_AndTheNextReadOfTheSameSqlAnswers(Provider provider)
    {
        await using var store = await StoreWithRowAsync(provider);
        Assert.Equal(new Row("a", 1, null), await ReadAsync(store.Database, "a"));

        await using (var connection = await store.Database.OpenAsync(CancellationToken.None))
        {
            // SQLite names the mistake (a kept statement must never answer with the last caller's
            // value); PostgreSQL rejects the unbound parameter.
            async Task ReadWithoutParameters() => await store.Database.Dialect.QueryRowAsync(connection, null, ReadSql, [], Map, CancellationToken.None);
            if (provider == Provider.Sqlite)
            {
                var error = await Assert.ThrowsAsync<ArgumentException>(ReadWithoutParameters);
                Assert.Contains("1 parameters, 0 given", error.Message);
            }
            else
            {
                await Assert.ThrowsAsync<Npgsql.PostgresException>(ReadWithoutParameters);
            }
        }

        Assert.Equal(new Row("b", 2, "two"), await ReadAsync(store.Database, "b"));
    }

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task MoreDistinctReadsThanAConnectionKeeps_AllAnswerEveryTime(Provider provider)
    {
        await using var store = await StoreWithRowAsync(provider);
        var texts = Enumerable.Range(0, 40).Select(i => $"SELECT id, n + {i}, s FROM row_read WHERE id = @id").ToList();
        for (var round = 0; round < 3; round++)
        {
            for (var i = 0; i < texts.Count; i++)
            {
                Assert.Equal(new Row("b", 2 + i, "two"), await ReadAsync(store.Database, "b", texts[i]));
            }
        }
    }
}
