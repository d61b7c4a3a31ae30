using System.Net;
using Dapper;
using Runledger.Api.Tests.Support;
using Runledger.Server.Lifecycle;
using Runledger.Storage;

namespace Runledger.Api.Tests;

/// <summary>
/// Legal holds against deletes running at the same moment on PostgreSQL, made deterministic by holding
/// the lock the other side waits for: a delete waits for the audit chain before it looks for holds, and
/// a cascade batch waits for the hold lock, so a hold committed meanwhile is seen. (On SQLite every
/// write transaction excludes the others, so the same orders hold by construction.)
/// </summary>
public sealed class HoldRaceTestsOnPostgres
{
    // The advisory lock keys of PostgresDialect.
    private const long AuditLockKey = 0x52756E6C6467_02;
    private const long HoldLockKey = 0x52756E6C6467_03;

    [Fact]
    public async Task HoldCommittedWhileDeleteWaitsForTheChain_DeleteRefused()
    {
        await using var server = await TestServer.StartAsync(Provider.Postgres, new Dictionary<string, string?> { ["Lifecycle:WorkerEnabled"] = "false" });
        var database = server.Service<IDatabase>();
        await (await server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json("""{"resourceGroupId":"race"}"""))).ExpectAsync(HttpStatusCode.Accepted);

        Task<HttpResponseMessage> delete;
        await using (var connection = await database.OpenAsync(CancellationToken.None))
        {
            await using var transaction = await connection.BeginTransactionAsync();
            await connection.ExecuteAsync("SELECT pg_advisory_xact_lock(@key)", new { key = AuditLockKey }, transaction);
            delete = server.Admin.DeleteAsync("/v2/admin/resourceGroups/race");
            await WaitForAdvisoryWaiterAsync(database);
            await InsertHoldAsync(connection, transaction, "resource_group", "race", "race");
            await transaction.CommitAsync();
        }

        var response = await delete.WaitAsync(TimeSpan.FromSeconds(30));
        var body = await response.ExpectAsync(HttpStatusCode.PreconditionFailed);
        Assert.StartsWith("The resource_group 'race' is under legal hold (reason: raced)", (string?)body["error"]!["message"], StringComparison.Ordinal);
        await (await server.Admin.GetAsync("/v2/admin/resourceGroups/race")).ExpectAsync(HttpStatusCode.OK);
        var jobs = await (await server.Admin.GetAsync("/runledger/v1/deletions?targetId=race")).ExpectAsync(HttpStatusCode.OK);
        Assert.Empty(jobs["jobs"]!.AsArray());
    }

    [Fact]
    public async Task HoldCommittedWhileBatchWaitsForTheHoldLock_BatchRemovesNothing()
    {
        await using var server = await TestServer.StartAsync(Provider.Postgres, new Dictionary<string, string?> { ["Lifecycle:WorkerEnabled"] = "false" });
        var database = server.Service<IDatabase>();
        var worker = server.Service<DeletionWorker>();
        await (await server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json("""{"resourceGroupId":"race-w"}"""))).ExpectAsync(HttpStatusCode.Accepted);
        await Seed.OwnedRowsAsync(database, "race-w", 20);
        var response = await server.Admin.DeleteAsync("/v2/admin/resourceGroups/race-w");
        await response.ExpectAsync(HttpStatusCode.Accepted);

        // As a hold being set does: the hold lock exclusively; the worker's batch waits for it.
        Task<bool> run;
        await using (var connection = await database.OpenAsync(CancellationToken.None))
        {
            await using var transaction = await connection.BeginTransactionAsync();
            await connection.ExecuteAsync("SELECT pg_advisory_xact_lock(@key)", new { key = HoldLockKey }, transaction);
            run = worker.RunOnceAsync(CancellationToken.None);
            await WaitForAdvisoryWaiterAsync(database);
            await InsertHoldAsync(connection, transaction, "execution", "race-w-ex-7", "race-w", ("resource_group", "race-w"));
            await transaction.CommitAsync();
        }

        Assert.True(await run.WaitAsync(TimeSpan.FromSeconds(30)));
        var job = await (await server.Admin.GetAsync($"/runledger/v1/deletions/{response.JobId()}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("queued", (string?)job["state"]);
        Assert.StartsWith("waiting: The resource_group 'race-w' cannot be deleted: the execution 'race-w-ex-7' is under legal hold", (string?)job["error"], StringComparison.Ordinal);
        Assert.Equal(0, (long)job["rowsRemoved"]!);
        Assert.Equal(10 + 20 + 20, await Seed.CountOwnedAsync(database, "race-w"));
    }

    private static async Task InsertHoldAsync(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction transaction, string kind, string id, string scope, params (string Kind, string Id)[] ancestors)
    {
        await connection.ExecuteAsync(
            "INSERT INTO legal_holds (kind, target_id, scope, reason, held_by, held_at) VALUES (@kind, @id, @scope, 'raced', 'test', 1)",
            new { kind, id, scope }, transaction);
        foreach (var (pathKind, pathId) in ancestors.Prepend((kind, id)))
        {
            await connection.ExecuteAsync(
                "INSERT INTO legal_hold_paths (kind, id, hold_kind, hold_id) VALUES (@pathKind, @pathId, @kind, @id)",
                new { pathKind, pathId, kind, id }, transaction);
        }
    }

    /// <summary>Until another session waits for an advisory lock (the request under test reached it).</summary>
    private static async Task WaitForAdvisoryWaiterAsync(IDatabase database)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var connection = await database.OpenAsync(timeout.Token);
        while (await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            cancellationToken: timeout.Token)) == 0)
        {
            await Task.Delay(10, timeout.Token);
        }
    }
}
