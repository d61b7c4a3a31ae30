using System.Net;
using System.Text.Json.Nodes;
using Dapper;
using Microsoft.Extensions.Time.Testing;
using Runledger.Api.Tests.Support;
using Runledger.Server.Lifecycle;
using Runledger.Storage;

namespace Runledger.Api.Tests;

/// <summary><c>/runledger/v1/deletions</c>: filters, keyset paging and the 400s of bad parameters.</summary>
public abstract class AdminJobTests(ServerFixture fixture)
{
    private TestServer Server => fixture.Server;

    private async Task<string> DeleteGroupAsync(string name)
    {
        await (await Server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json($$"""{"resourceGroupId":"{{name}}"}"""))).ExpectAsync(HttpStatusCode.Accepted);
        var response = await Server.Admin.DeleteAsync($"/v2/admin/resourceGroups/{name}");
        await response.ExpectAsync(HttpStatusCode.Accepted);
        var jobId = response.JobId();
        await Server.WaitForJobAsync(jobId);
        return jobId;
    }

    [Fact]
    public async Task ListJobs_FiltersAndPages_NewestFirstEachJobOnce()
    {
        var since = TimeProvider.System.GetUtcNow().AddSeconds(-1).ToString("O", System.Globalization.CultureInfo.InvariantCulture);
        var prefix = "page-" + Guid.NewGuid().ToString("N")[..6];
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(await DeleteGroupAsync($"{prefix}-{i}"));
        }

        var one = await (await Server.Admin.GetAsync($"/runledger/v1/deletions?kind=resource_group&targetId={prefix}-1&state=done")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([ids[1]], one["jobs"]!.AsArray().Select(j => (string?)j!["id"]));
        Assert.Equal($"{prefix}-1", (string?)one["jobs"]![0]!["scope"]);
        Assert.Null(one["nextCursor"]);

        var seen = new List<string>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var url = $"/runledger/v1/deletions?kind=resource_group&from={Uri.EscapeDataString(since)}&limit=1" + (cursor is null ? "" : $"&cursor={cursor}");
            var page = await (await Server.Admin.GetAsync(url)).ExpectAsync(HttpStatusCode.OK);
            seen.AddRange(page["jobs"]!.AsArray().Select(j => (string)j!["id"]!));
            cursor = (string?)page["nextCursor"];
            pages++;
        }
        while (cursor is not null && pages < 10);

        var ours = seen.Where(ids.Contains).ToList();
        Assert.Equal(Enumerable.Reverse(ids), ours);
        Assert.Equal(seen.Count, seen.Distinct().Count());

        var none = await (await Server.Admin.GetAsync($"/runledger/v1/deletions?targetId={prefix}-1&to={Uri.EscapeDataString(since)}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Empty(none["jobs"]!.AsArray());
    }

    [Theory]
    [InlineData("state=gone", "state 'gone' is unknown; use queued, running, done, failed or restored.")]
    [InlineData("limit=0", "limit must be between 1 and 1000.")]
    [InlineData("from=yesterday", "from 'yesterday' is not a time; use ISO 8601 such as 2026-01-31T12:00:00Z.")]
    [InlineData("cursor=bm9wZQ", "cursor 'bm9wZQ' is not one this server gave out; pass the nextCursor of the previous page unchanged, or leave it out for the first page.")]
    public async Task ListJobs_BadParameter_400ProblemNamesTheFix(string query, string detail)
    {
        var response = await Server.Admin.GetAsync($"/runledger/v1/deletions?{query}");
        var body = await response.ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Http.AssertJson(
            $$"""{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.1","title":"Bad Request","status":400,"detail":"{{detail}}","code":"InvalidParameter","requestId":"{requestId}"}""",
            body,
            response.RequestId());
    }

    [Fact]
    public async Task RetryJob_UnknownOrDone_404Or409()
    {
        var response = await Server.Admin.PostAsync("/runledger/v1/deletions/nope/retry", null);
        var body = await response.ExpectAsync(HttpStatusCode.NotFound);
        Assert.Equal("There is no deletion job 'nope'.", (string?)body["detail"]);

        var jobId = await DeleteGroupAsync("retry-done-" + Guid.NewGuid().ToString("N")[..6]);
        response = await Server.Admin.PostAsync($"/runledger/v1/deletions/{jobId}/retry", null);
        body = await response.ExpectAsync(HttpStatusCode.Conflict);
        Http.AssertJson(
            $$"""{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.10","title":"Conflict","status":409,"detail":"Deletion job '{{jobId}}' is done, not failed: it has finished and there is nothing left to remove.","code":"JobNotFailed","requestId":"{requestId}"}""",
            body,
            response.RequestId());
    }

    [Fact]
    public async Task ListJobs_ByProject_JobsScheduledWithThatParent()
    {
        var prefix = "proj-" + Guid.NewGuid().ToString("N")[..6];
        var scheduler = Server.Service<DeletionScheduler>();
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            await (await Server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json($$"""{"resourceGroupId":"{{prefix}}-{{i}}"}"""))).ExpectAsync(HttpStatusCode.Accepted);
            var result = await scheduler.ScheduleManyAsync(
                "resource_group", [$"{prefix}-{i}"], $"{prefix}-{i}", "test", new ScheduleOptions(Parent: i < 2 ? $"{prefix}-p" : null), CancellationToken.None);
            ids.Add(Assert.IsType<ScheduleResult.Scheduled>(result.Single()).JobId);
        }

        var mine = await (await Server.Admin.GetAsync($"/runledger/v1/deletions?project={prefix}-p")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([ids[1], ids[0]], mine["jobs"]!.AsArray().Select(j => (string?)j!["id"]));
        Assert.All(mine["jobs"]!.AsArray(), j => Assert.Equal($"{prefix}-p", (string?)j!["parent"]));
        var other = await (await Server.Admin.GetAsync($"/runledger/v1/deletions/{ids[2]}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Null(other["parent"]);
        Assert.False(other.AsObject().ContainsKey("parent"));
        foreach (var id in ids)
        {
            await Server.WaitForJobAsync(id);
        }
    }

    [Fact]
    public async Task AdminApi_WithoutAdminScope_403()
    {
        var token = await Server.AddCredentialAsync(Storage.Credentials.CredentialKinds.BearerToken, "read write");
        using var client = Server.NewClient(token);
        var response = await client.GetAsync("/runledger/v1/deletions");
        var body = await response.ExpectAsync(HttpStatusCode.Forbidden);
        Assert.Equal("This credential does not have the 'admin' scope this operation needs.", (string?)body["detail"]);
    }
}

public sealed class AdminJobTestsOnSqlite(SqliteServer fixture) : AdminJobTests(fixture), IClassFixture<SqliteServer>;

public sealed class AdminJobTestsOnPostgres(PostgresServer fixture) : AdminJobTests(fixture), IClassFixture<PostgresServer>;

/// <summary>
/// A job followed on a node whose worker is triggered by hand and whose clock is fake: rows left
/// while queued, exponential backoff between failed attempts, failed for good after the last one,
/// then a retry by hand that finishes it.
/// </summary>
public sealed class JobRetryTests
{
    private static readonly DateTimeOffset Start = DateTimeOffset.Parse("2026-11-23T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture);

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task FailingJob_BacksOffThenFailsForGood_RetryByHandFinishesIt(Provider provider)
    {
        var clock = new FakeTimeProvider(Start);
        await using var server = await TestServer.StartAsync(
            provider,
            new Dictionary<string, string?>
            {
                ["Lifecycle:WorkerEnabled"] = "false",
                ["Lifecycle:MaxAttempts"] = "3",
                ["Lifecycle:RetryBaseSeconds"] = "10",
                ["Lifecycle:RetryMaxSeconds"] = "15",
            },
            services => services.AddSingleton<TimeProvider>(clock));
        var database = server.Service<IDatabase>();
        var worker = server.Service<DeletionWorker>();
        await (await server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json("""{"resourceGroupId":"flaky"}"""))).ExpectAsync(HttpStatusCode.Accepted);
        await Seed.OwnedRowsAsync(database, "flaky", 50);
        var response = await server.Admin.DeleteAsync("/v2/admin/resourceGroups/flaky");
        await response.ExpectAsync(HttpStatusCode.Accepted);
        var jobId = response.JobId();

        var job = await JobAsync(server, jobId);
        Assert.Equal("queued", (string?)job["state"]);
        Http.AssertJson(
            """{"metric_points":0,"metric_attributes":0,"metric_resources":0,"execution_logs":50,"executions":50,"configurations":10}""",
            job["rowsLeft"]!);

        // Break the cascade underneath the worker: one child table is unreachable.
        await ExecuteAsync(database, "ALTER TABLE execution_logs RENAME TO execution_logs_away");

        Assert.True(await worker.RunOnceAsync(CancellationToken.None));
        job = await JobAsync(server, jobId);
        Assert.Equal(1, (long)job["attempts"]!);
        Assert.Equal("queued", (string?)job["state"]); // waiting out its backoff, not running
        Assert.Equal(Start.AddSeconds(10), (DateTimeOffset)job["nextAttemptAt"]!);
        Assert.Contains("execution_logs", (string?)job["error"], StringComparison.Ordinal);
        Assert.Null(job["leaseOwner"]);

        var early = await server.Admin.PostAsync($"/runledger/v1/deletions/{jobId}/retry", null);
        Assert.Contains("not failed: the worker is already on it", (string?)(await early.ExpectAsync(HttpStatusCode.Conflict))["detail"], StringComparison.Ordinal);

        Assert.False(await worker.RunOnceAsync(CancellationToken.None));
        clock.Advance(TimeSpan.FromSeconds(10));
        Assert.True(await worker.RunOnceAsync(CancellationToken.None));
        job = await JobAsync(server, jobId);
        Assert.Equal(2, (long)job["attempts"]!);
        Assert.Equal("queued", (string?)job["state"]);
        Assert.Equal(Start.AddSeconds(10 + 15), (DateTimeOffset)job["nextAttemptAt"]!); // 20 s, capped at RetryMaxSeconds

        clock.Advance(TimeSpan.FromSeconds(14));
        Assert.False(await worker.RunOnceAsync(CancellationToken.None));
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.True(await worker.RunOnceAsync(CancellationToken.None));
        job = await JobAsync(server, jobId);
        Assert.Equal("failed", (string?)job["state"]);
        Assert.Equal(3, (long)job["attempts"]!);
        Assert.Null(job["nextAttemptAt"]);
        Assert.Equal(Start.AddSeconds(25), (DateTimeOffset)job["finishedAt"]!);
        clock.Advance(TimeSpan.FromHours(1));
        Assert.False(await worker.RunOnceAsync(CancellationToken.None));

        var failed = await (await server.Admin.GetAsync($"/runledger/v1/deletions?state=failed&targetId=flaky")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([jobId], failed["jobs"]!.AsArray().Select(j => (string?)j!["id"]));

        await ExecuteAsync(database, "ALTER TABLE execution_logs_away RENAME TO execution_logs");
        var retried = await (await server.Admin.PostAsync($"/runledger/v1/deletions/{jobId}/retry", null)).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("queued", (string?)retried["state"]);
        Assert.Equal(0, (long)retried["attempts"]!);
        Assert.Null(retried["finishedAt"]);

        Assert.True(await worker.RunOnceAsync(CancellationToken.None));
        job = await JobAsync(server, jobId);
        Assert.Equal("done", (string?)job["state"]);
        Assert.Null(job["error"]);
        Assert.Null(job["rowsLeft"]);
        Assert.Equal(10 + 50 + 50 + 1, (long)job["rowsRemoved"]!);
        Assert.Equal(0, await Seed.CountOwnedAsync(database, "flaky"));

        var audit = await (await server.Admin.GetAsync($"/runledger/v1/audit?jobId={jobId}")).ExpectAsync(HttpStatusCode.OK);
        var entries = audit["entries"]!.AsArray();
        Assert.Equal(["deletion.requested", "deletion.retried", "deletion.finished"], entries.Select(e => (string?)e!["action"]));
        Assert.Equal("env-admin-token", (string?)entries[1]!["actor"]);
        Assert.StartsWith("after 3 failed attempt(s); last error: ", (string?)entries[1]!["detail"], StringComparison.Ordinal);
    }

    private static async Task<JsonNode> JobAsync(TestServer server, string jobId) =>
        await (await server.Admin.GetAsync($"/runledger/v1/deletions/{jobId}")).ExpectAsync(HttpStatusCode.OK);

    private static async Task ExecuteAsync(IDatabase database, string sql)
    {
        await using var connection = await database.OpenAsync(CancellationToken.None);
        await connection.ExecuteAsync(sql);
    }
}
