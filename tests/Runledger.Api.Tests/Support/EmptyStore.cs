using Runledger.Storage;
using Runledger.Storage.Postgres;
using Runledger.Storage.Sqlite;

namespace Runledger.Api.Tests.Support;

/// <summary>A store with no migrations applied: a fresh SQLite file or a fresh PostgreSQL database, removed on dispose.</summary>
public sealed class EmptyStore(IDatabase database, Func<IDatabase> reopen, Func<Task> cleanup) : IAsyncDisposable
{
    private readonly List<IDatabase> _opened = [database];

    public IDatabase Database => database;

    public static async Task<EmptyStore> CreateAsync(Provider provider)
    {
        if (provider == Provider.Postgres)
        {
            var connectionString = await Postgres.CreateDatabaseAsync();
            return new EmptyStore(PostgresDatabase.Create(connectionString), () => PostgresDatabase.Create(connectionString), async () => await Postgres.DropDatabaseAsync(connectionString));
        }

        var dir = Path.Combine(Path.GetTempPath(), "runledger-tests", Guid.NewGuid().ToString("N"));
        var file = Path.Combine(dir, "runledger.db");
        return new EmptyStore(new SqliteDatabase(file), () => new SqliteDatabase(file), () =>
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
            return Task.CompletedTask;
        });
    }

    /// <summary>Another handle on the same store, as another node would open it.</summary>
    public IDatabase Reopen()
    {
        var another = reopen();
        _opened.Add(another);
        return another;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var opened in _opened.OfType<IAsyncDisposable>())
        {
            await opened.DisposeAsync();
        }

        await cleanup();
    }
}
