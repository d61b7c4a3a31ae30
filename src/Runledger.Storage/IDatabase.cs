using System.Data.Common;

namespace Runledger.Storage;

/// <summary>
/// One storage provider: how to open a connection, how to start a write transaction, the SQL
/// differences the shared stores need, and the provider's numbered migrations.
/// </summary>
public interface IDatabase
{
    /// <summary>"sqlite" or "postgres"; shown in logs and health output only.</summary>
    string ProviderName { get; }

    SqlDialect Dialect { get; }

    IReadOnlyList<Migration> Migrations { get; }

    ValueTask<DbConnection> OpenAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Starts a transaction that will write. On SQLite this is BEGIN IMMEDIATE, so the single
    /// writer lock is taken up front and a read-then-write never fails with SQLITE_BUSY midway.
    /// </summary>
    ValueTask<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken);

    /// <summary>
    /// Queues this process's writers on a hot path before they start a write transaction. SQLite has
    /// one writer at a time, and its busy handler waits by sleeping in growing steps, so writers that
    /// queue here instead take turns without those sleeps. Completes at once where writers do not
    /// exclude each other (PostgreSQL).
    /// </summary>
    ValueTask<IDisposable> EnterWriteQueueAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Whether a writer of this process is waiting in <see cref="EnterWriteQueueAsync"/> for the turn
    /// someone holds: background work that holds the turn for several steps ends early for it. False
    /// where there is no queue (PostgreSQL).
    /// </summary>
    bool WritersWaiting { get; }

    /// <summary>
    /// Background upkeep, called about once a second by the host. On SQLite this copies the
    /// write-ahead log into the database file (a passive checkpoint) off the writers' path, so a
    /// commit seldom has to do it; PostgreSQL does its own.
    /// </summary>
    ValueTask MaintainAsync(CancellationToken cancellationToken);
}

public sealed record Migration(int Version, string Name, string Sql);
