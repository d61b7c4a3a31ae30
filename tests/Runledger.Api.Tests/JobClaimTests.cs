using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using Runledger.Api.Tests.Support;
using Runledger.Storage.Lifecycle;
using Runledger.Storage.Migrations;

namespace Runledger.Api.Tests;

/// <summary>
/// The worker's claim of the next due job, on a queue of thousands: which job it takes, and (SQLite)
/// that it walks the due index instead of sorting every queued job while it holds the single writer.
/// </summary>
public sealed class JobClaimTests
{
    private const long Now = 1_800_000_000_000;

    private static async Task<EmptyStore> QueueAsync(Provider provider)
    {
        var store = await EmptyStore.CreateAsync(provider);
        await new MigrationRunner(store.Database, TimeProvider.System, NullLogger<MigrationRunner>.Instance).ApplyAsync(CancellationToken.None);
        var jobs = new DeletionJobStore(store.Database);

        static DeletionJobRow Job(string id, string state, long requestedAt, long purgeAfter, long? leaseUntil = null, long? nextAttemptAt = null) => new()
        {
            Id = id,
            Kind = "execution",
            TargetId = $"t-{id}",
            Scope = "default",
            State = state,
            RequestedBy = "test",
            RequestedAt = requestedAt,
            Progress = "{}",
            PurgeAfter = purgeAfter,
            LeaseUntil = leaseUntil,
            LeaseOwner = leaseUntil is null ? null : "other",
            NextAttemptAt = nextAttemptAt,
        };

        // 3,000 finished and 2,000 queued jobs, then the ones the claim must pass over or take.
        var rows = new List<DeletionJobRow>();
        rows.AddRange(Enumerable.Range(0, 3_000).Select(i => Job($"done-{i:D5}", "done", Now - 10_000 + i, Now - 10_000 + i)));
        rows.AddRange(Enumerable.Range(0, 2_000).Select(i => Job($"queued-{i:D5}", "queued", Now - 5_000 + i, Now - 5_000 + i)));
        rows.Add(Job("in-grace", "queued", Now - 20_000, Now + 60_000));
        rows.Add(Job("leased", "running", Now - 20_000, Now - 20_000, leaseUntil: Now + 30_000));
        rows.Add(Job("backing-off", "queued", Now - 20_000, Now - 20_000, nextAttemptAt: Now + 5_000));
        rows.Add(Job("lease-expired", "running", Now - 20_000, Now - 19_000, leaseUntil: Now - 1));
        rows.Add(Job("failed", "failed", Now - 30_000, Now - 30_000));
        await using var connection = await store.Database.OpenAsync(CancellationToken.None);
        await using var transaction = await store.Database.BeginWriteAsync(connection, CancellationToken.None);
        await jobs.InsertManyAsync(connection, transaction, rows, CancellationToken.None);
        await transaction.CommitAsync();
        return store;
    }

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task Claims_TheFirstDueJob_PassingOverGraceLeasesAndBackoff(Provider provider)
    {
        await using var store = await QueueAsync(provider);
        var jobs = new DeletionJobStore(store.Database);

        // The dead node's job is due first; then the queue in order; never the held-back ones.
        var first = await jobs.ClaimNextAsync("me", Now, Now + 30_000, CancellationToken.None);
        Assert.Equal(("lease-expired", "running", "me", 1L), (first!.Id, first.State, first.LeaseOwner, first.Attempts));
        Assert.Equal("queued-00000", (await jobs.ClaimNextAsync("me", Now, Now + 30_000, CancellationToken.None))!.Id);
        Assert.Equal("queued-00001", (await jobs.ClaimNextAsync("me", Now, Now + 30_000, CancellationToken.None))!.Id);

        await using var connection = await store.Database.OpenAsync(CancellationToken.None);
        var untouched = await connection.QueryAsync<(string Id, string State, string? LeaseOwner)>(
            "SELECT id, state, lease_owner FROM deletion_jobs WHERE id IN ('in-grace', 'leased', 'backing-off', 'failed') ORDER BY id");
        Assert.Equal([("backing-off", "queued", null), ("failed", "failed", null), ("in-grace", "queued", null), ("leased", "running", "other")], untouched);
    }

    [Fact]
    public async Task OnSqlite_TheClaimWalksTheDueIndex_WithoutSortingTheQueue()
    {
        await using var store = await QueueAsync(Provider.Sqlite);
        await using var connection = await store.Database.OpenAsync(CancellationToken.None);
        var plan = string.Join(" | ", (await connection.QueryAsync<(long Id, long Parent, long NotUsed, string Detail)>(
            "EXPLAIN QUERY PLAN " + DeletionJobStore.ClaimSql(store.Database.Dialect), new { now = Now })).Select(row => row.Detail));
        Assert.Contains("USING INDEX ix_deletion_jobs_due", plan);
        Assert.DoesNotContain("TEMP B-TREE", plan);
    }
}
