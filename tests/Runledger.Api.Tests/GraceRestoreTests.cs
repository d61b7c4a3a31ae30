using System.Net;
using Runledger.Api.Tests.Support;

namespace Runledger.Api.Tests;

/// <summary>Grace periods and restore: within grace a delete is only a mark that restore undoes exactly.</summary>
public abstract class GraceRestoreTests(LifecycleServer fixture)
{
    private TestServer Server => fixture.Server;

    private Task<HttpResponseMessage> RestoreAsync(string jobId) => Server.Admin.PostAsync($"/runledger/v1/deletions/{jobId}/restore", null);

    [Fact]
    public async Task Restore_ExecutionWithinGrace_EverythingBackByteForByte()
    {
        var group = await fixture.SeedGroupAsync();
        var before = await fixture.SnapshotAsync(group);
        var rows = await fixture.RowsAsync(group);
        using var client = Server.InGroup(group);

        var response = await client.DeleteAsync($"/v2/lm/executions/{group}-ex-1");
        await response.ExpectAsync(HttpStatusCode.Accepted);
        var jobId = response.JobId();
        var job = await (await Server.Admin.GetAsync($"/runledger/v1/deletions/{jobId}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("queued", (string?)job["state"]);
        Assert.Equal(fixture.Clock.GetUtcNow() + LifecycleServer.Grace, DateTimeOffset.Parse((string)job["purgeAfter"]!, System.Globalization.CultureInfo.InvariantCulture));

        // Hidden at once; nothing reclaimed while grace lasts, even when the worker runs.
        var hidden = await (await client.GetAsync($"/v2/lm/executions/{group}-ex-1")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("DELETED", (string?)hidden["targetStatus"]);
        await (await client.GetAsync($"/v2/lm/executions/{group}-ex-1/logs")).ExpectAsync(HttpStatusCode.NotFound);
        fixture.Clock.Advance(LifecycleServer.Grace - TimeSpan.FromMinutes(1));
        await fixture.RunWorkerAsync();
        Assert.Equal(rows, await fixture.RowsAsync(group));

        var restored = await (await RestoreAsync(jobId)).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("restored", (string?)restored["state"]);
        Assert.Equal(jobId, (string?)restored["id"]);
        Assert.Equal(before, await fixture.SnapshotAsync(group));
        Assert.Equal(rows, await fixture.RowsAsync(group));

        // The job never runs after a restore, and the audit log tells the story.
        fixture.Clock.Advance(TimeSpan.FromDays(2));
        await fixture.RunWorkerAsync();
        Assert.Equal(before, await fixture.SnapshotAsync(group));
        var audit = await (await Server.Admin.GetAsync($"/runledger/v1/audit?jobId={jobId}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(["deletion.requested", "deletion.restored"], audit["entries"]!.AsArray().Select(e => (string)e!["action"]!));

        var again = await RestoreAsync(jobId);
        var body = await again.ExpectAsync(HttpStatusCode.Conflict);
        Http.AssertJson(
            $$$"""{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.10","title":"Conflict","status":409,"detail":"Deletion job '{{{jobId}}}' was already restored.","code":"AlreadyRestored","requestId":"{requestId}"}""",
            body, again.RequestId());
    }

    [Fact]
    public async Task Restore_ResourceGroupWithinGrace_GroupAndAllItOwnsBackAndNameReservedMeanwhile()
    {
        var group = await fixture.SeedGroupAsync();
        var before = await fixture.SnapshotAsync(group);
        var rows = await fixture.RowsAsync(group);
        var response = await Server.Admin.DeleteAsync($"/v2/admin/resourceGroups/{group}");
        await response.ExpectAsync(HttpStatusCode.Accepted);
        await (await Server.Admin.GetAsync($"/v2/admin/resourceGroups/{group}")).ExpectAsync(HttpStatusCode.NotFound);

        // The name stays taken while the deletion can still be undone.
        var reuse = await (await Server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json("{\"resourceGroupId\":\"" + group + "\"}"))).ExpectAsync(HttpStatusCode.Conflict);
        Assert.Equal("ResourceGroupBeingDeleted", (string?)reuse["error"]!["code"]);

        fixture.Clock.Advance(TimeSpan.FromHours(23));
        await fixture.RunWorkerAsync();
        await (await RestoreAsync(response.JobId())).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(before, await fixture.SnapshotAsync(group));
        Assert.Equal(rows, await fixture.RowsAsync(group));
    }

    [Fact]
    public async Task Restore_AfterGrace_409ThenPurgedAndNameReusable()
    {
        var group = await fixture.SeedGroupAsync();
        var response = await Server.Admin.DeleteAsync($"/v2/admin/resourceGroups/{group}");
        await response.ExpectAsync(HttpStatusCode.Accepted);
        var jobId = response.JobId();
        var purgeAfter = fixture.Clock.GetUtcNow() + LifecycleServer.Grace;

        fixture.Clock.Advance(LifecycleServer.Grace);
        var late = await RestoreAsync(jobId);
        Http.AssertJson(
            $$$"""{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.10","title":"Conflict","status":409,"detail":"The grace period of deletion job '{{{jobId}}}' (1.00:00:00) ended at {{{purgeAfter:O}}}; it can no longer be restored.","code":"GraceEnded","requestId":"{requestId}"}""",
            await late.ExpectAsync(HttpStatusCode.Conflict), late.RequestId());

        await fixture.RunWorkerAsync();
        var job = await (await Server.Admin.GetAsync($"/runledger/v1/deletions/{jobId}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("done", (string?)job["state"]);
        Assert.Equal("configurations=0 executions=0 logs=0 metric_resources=0 points=0 attributes=0", await fixture.RowsAsync(group));
        var done = await (await RestoreAsync(jobId)).ExpectAsync(HttpStatusCode.Conflict);
        Assert.Equal("ReclaimStarted", (string?)done["code"]);
        Assert.Equal($"Deletion job '{jobId}' is done and has started reclaiming resource_group '{group}'; it can no longer be restored.", (string?)done["detail"]);

        await (await Server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json("{\"resourceGroupId\":\"" + group + "\"}"))).ExpectAsync(HttpStatusCode.Accepted);
    }

    [Fact]
    public async Task Restore_MetricsWhoseExecutionLoggedAgain_409NameReused()
    {
        var group = await fixture.SeedGroupAsync();
        using var client = Server.InGroup(group);
        var response = await client.DeleteAsync($"/v2/lm/metrics?executionId={group}-ex-1");
        await response.ExpectAsync(HttpStatusCode.OK);
        await (await client.PatchAsync("/v2/lm/metrics", Http.Json($$"""{"executionId":"{{group}}-ex-1","metrics":[{"name":"loss","value":1}]}""", "application/merge-patch+json")))
            .ExpectAsync(HttpStatusCode.NoContent);

        var refused = await (await RestoreAsync(response.JobId())).ExpectAsync(HttpStatusCode.Conflict);
        Assert.Equal("NameReused", (string?)refused["code"]);
        var job = await (await Server.Admin.GetAsync($"/runledger/v1/deletions/{response.JobId()}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("queued", (string?)job["state"]);
    }

    [Fact]
    public async Task Restore_MetricsWithinGrace_SameMetricsBack()
    {
        var group = await fixture.SeedGroupAsync();
        var before = await fixture.SnapshotAsync(group);
        using var client = Server.InGroup(group);
        var response = await client.DeleteAsync($"/v2/lm/metrics?executionId={group}-ex-2");
        await response.ExpectAsync(HttpStatusCode.OK);
        Assert.NotEqual(before, await fixture.SnapshotAsync(group));

        await (await RestoreAsync(response.JobId())).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(before, await fixture.SnapshotAsync(group));
    }

    [Fact]
    public async Task Restore_UnknownJob_404()
    {
        var response = await RestoreAsync("no-such-job");
        Http.AssertJson(
            """{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.5","title":"Not Found","status":404,"detail":"There is no deletion job 'no-such-job'.","code":"JobNotFound","requestId":"{requestId}"}""",
            await response.ExpectAsync(HttpStatusCode.NotFound), response.RequestId());
    }
}

public sealed class GraceRestoreTestsOnSqlite(SqliteLifecycleServer fixture) : GraceRestoreTests(fixture), IClassFixture<SqliteLifecycleServer>;

public sealed class GraceRestoreTestsOnPostgres(PostgresLifecycleServer fixture) : GraceRestoreTests(fixture), IClassFixture<PostgresLifecycleServer>;

/// <summary>Grace settings are checked at start, naming the key to fix.</summary>
public sealed class GraceOptionsTests
{
    [Theory]
    [InlineData("Lifecycle:Grace:execution", "soon", "Lifecycle:Grace:execution is 'soon'; use a non-negative TimeSpan such as 30.00:00:00 (30 days), 01:00:00 (1 hour) or 0 (reclaim at once).")]
    [InlineData("Lifecycle:Grace:execution", "-1.00:00:00", "Lifecycle:Grace:execution is '-1.00:00:00'; use a non-negative TimeSpan such as 30.00:00:00 (30 days), 01:00:00 (1 hour) or 0 (reclaim at once).")]
    [InlineData("Lifecycle:Grace:experimnt", "1.00:00:00", "Lifecycle:Grace:experimnt names no deletable kind; use one of execution, ")]
    public async Task Grace_Invalid_StartFailsNamingTheKey(string key, string value, string message)
    {
        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(async () =>
        {
            await using var server = await TestServer.StartAsync(Provider.Sqlite, new Dictionary<string, string?> { [key] = value });
        });
        Assert.Contains(error.Failures, f => f.StartsWith(message, StringComparison.Ordinal));
    }
}
