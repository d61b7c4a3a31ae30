using System.Net;
using System.Text.Json.Nodes;
using Runledger.Api.Tests.Support;

namespace Runledger.Api.Tests;

/// <summary>Legal holds refuse direct, bulk and cascading deletes (and retention, see RetentionTests) in the dialect's shape, with an audit entry.</summary>
public abstract class HoldTests(LifecycleServer fixture)
{
    private TestServer Server => fixture.Server;

    private Task<HttpResponseMessage> HoldAsync(string kind, string id, string? scope = null, string reason = "case 4711") =>
        Server.Admin.PutAsync($"/runledger/v1/holds/{kind}/{id}" + (scope is null ? "" : $"?scope={scope}"), Http.Json(new JsonObject { ["reason"] = reason }.ToJsonString()));

    private async Task<List<string>> RefusalsAsync(string kind, string id)
    {
        var audit = await (await Server.Admin.GetAsync($"/runledger/v1/audit?targetKind={kind}&targetId={id}")).ExpectAsync(HttpStatusCode.OK);
        return audit["entries"]!.AsArray().Where(e => (string?)e!["action"] == "deletion.refused").Select(e => (string)e!["detail"]!).ToList();
    }

    [Fact]
    public async Task HeldGroup_DirectBulkMetricsAndGroupDeletes_412NamingTheHoldAndAudited()
    {
        var group = await fixture.SeedGroupAsync();
        var rows = await fixture.RowsAsync(group);
        var set = await (await HoldAsync("resource_group", group)).ExpectAsync(HttpStatusCode.Created);
        Assert.Equal("case 4711", (string?)set["reason"]);
        var list = await (await Server.Admin.GetAsync("/runledger/v1/holds")).ExpectAsync(HttpStatusCode.OK);
        Assert.Contains(list["holds"]!.AsArray(), h => (string?)h!["id"] == group && (string?)h["kind"] == "resource_group" && (string?)h["scope"] == group);

        using var client = Server.InGroup(group);
        var message = $"The execution '{group}-ex-1' cannot be deleted: the resource_group '{group}' is under legal hold (reason: case 4711); clear the hold with DELETE /runledger/v1/holds/resource_group/{group} before deleting.";
        var direct = await client.DeleteAsync($"/v2/lm/executions/{group}-ex-1");
        Http.AssertJson(
            $$$"""{"error":{"code":"LegalHold","message":"{{{message}}}","requestId":"{requestId}","target":"/executions/{{{group}}}-ex-1"}}""",
            await direct.ExpectAsync(HttpStatusCode.PreconditionFailed), direct.RequestId());
        Assert.False(direct.Headers.Contains("Runledger-Deletion-Job"));

        var bulk = await (await client.PatchAsync("/v2/lm/executions", Http.Json($$"""{"executions":[{"id":"{{group}}-ex-2","targetStatus":"DELETED"}]}""", "application/merge-patch+json")))
            .ExpectAsync(HttpStatusCode.Accepted);
        var bulkMessage = message.Replace("ex-1", "ex-2", StringComparison.Ordinal);
        Http.AssertJson(
            $$$"""{"executions":[{"id":"{{{group}}}-ex-2","error":{"code":"LegalHold","message":"{{{bulkMessage}}}"}}]}""",
            bulk);

        var metrics = await (await client.DeleteAsync($"/v2/lm/metrics?executionId={group}-ex-1")).ExpectAsync(HttpStatusCode.PreconditionFailed);
        Assert.Equal("LegalHold", (string?)metrics["error"]!["code"]);

        var whole = await (await Server.Admin.DeleteAsync($"/v2/admin/resourceGroups/{group}")).ExpectAsync(HttpStatusCode.PreconditionFailed);
        Assert.Equal(
            $"The resource_group '{group}' is under legal hold (reason: case 4711); clear the hold with DELETE /runledger/v1/holds/resource_group/{group} before deleting.",
            (string?)whole["error"]!["message"]);

        Assert.Equal(rows, await fixture.RowsAsync(group));
        Assert.Equal([message], await RefusalsAsync("execution", $"{group}-ex-1"));
        Assert.Single(await RefusalsAsync("resource_group", group));
        var preview = await (await Server.Admin.PostAsync("/runledger/v1/deletions/preview", Http.Json($$"""{"targets":[{"kind":"resource_group","id":"{{group}}"}]}"""))).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(group, (string?)preview["targets"]![0]!["hold"]!["id"]);

        // Cleared: deletes go through again.
        await (await Server.Admin.DeleteAsync($"/runledger/v1/holds/resource_group/{group}")).ExpectAsync(HttpStatusCode.NoContent);
        await (await client.DeleteAsync($"/v2/lm/executions/{group}-ex-1")).ExpectAsync(HttpStatusCode.Accepted);
        await (await Server.Admin.DeleteAsync($"/runledger/v1/holds/resource_group/{group}")).ExpectAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task HeldExecution_ItsMetricsAndItsGroup_RefusedOtherExecutionsNot()
    {
        var group = await fixture.SeedGroupAsync();
        await (await HoldAsync("execution", $"{group}-ex-1", group)).ExpectAsync(HttpStatusCode.Created);
        using var client = Server.InGroup(group);

        // The group contains the held execution: deleting it would cascade to it.
        var cascade = await (await Server.Admin.DeleteAsync($"/v2/admin/resourceGroups/{group}")).ExpectAsync(HttpStatusCode.PreconditionFailed);
        Assert.Equal(
            $"The resource_group '{group}' cannot be deleted: the execution '{group}-ex-1' is under legal hold (reason: case 4711); clear the hold with DELETE /runledger/v1/holds/execution/{group}-ex-1 before deleting.",
            (string?)cascade["error"]!["message"]);
        await (await client.DeleteAsync($"/v2/lm/metrics?executionId={group}-ex-1")).ExpectAsync(HttpStatusCode.PreconditionFailed);
        await (await client.DeleteAsync($"/v2/lm/executions/{group}-ex-1")).ExpectAsync(HttpStatusCode.PreconditionFailed);

        await (await client.DeleteAsync($"/v2/lm/executions/{group}-ex-3")).ExpectAsync(HttpStatusCode.Accepted);
        await (await client.DeleteAsync($"/v2/lm/metrics?executionId={group}-ex-2")).ExpectAsync(HttpStatusCode.OK);

        // Setting it again replaces the reason (200, not 201).
        var replaced = await (await HoldAsync("execution", $"{group}-ex-1", group, "case 4712")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("case 4712", (string?)replaced["reason"]);
    }

    [Fact]
    public async Task HoldSetDuringGrace_WorkerWaitsUntilCleared()
    {
        var group = await fixture.SeedGroupAsync();
        using var client = Server.InGroup(group);
        var response = await client.DeleteAsync($"/v2/lm/executions/{group}-ex-1");
        await response.ExpectAsync(HttpStatusCode.Accepted);
        var rows = await fixture.RowsAsync(group);
        await (await HoldAsync("resource_group", group)).ExpectAsync(HttpStatusCode.Created);

        fixture.Clock.Advance(LifecycleServer.Grace);
        await fixture.RunWorkerAsync();
        Assert.Equal(rows, await fixture.RowsAsync(group));
        var job = await (await Server.Admin.GetAsync($"/runledger/v1/deletions/{response.JobId()}")).ExpectAsync(HttpStatusCode.OK);
        Assert.StartsWith($"waiting: The execution '{group}-ex-1' cannot be deleted: the resource_group '{group}' is under legal hold", (string?)job["error"], StringComparison.Ordinal);
        Assert.Equal(0, (long)job["attempts"]!);
        Assert.Equal("queued", (string?)job["state"]);
        Assert.Null(job["leaseOwner"]);
        Assert.Equal(fixture.Clock.GetUtcNow().Add(Runledger.Server.Lifecycle.DeletionWorker.HeldRecheck), (DateTimeOffset)job["nextAttemptAt"]!);

        await (await Server.Admin.DeleteAsync($"/runledger/v1/holds/resource_group/{group}")).ExpectAsync(HttpStatusCode.NoContent);
        fixture.Clock.Advance(Runledger.Server.Lifecycle.DeletionWorker.HeldRecheck);
        await fixture.RunWorkerAsync();
        job = await (await Server.Admin.GetAsync($"/runledger/v1/deletions/{response.JobId()}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("done", (string?)job["state"]);
        Assert.Null(job["error"]);
        Assert.Equal(1, (long)job["removed"]!["execution"]!);
    }

    [Fact]
    public async Task Hold_BadRequests_400Or404()
    {
        var group = await fixture.SeedGroupAsync(executions: 2);
        var kind = await (await HoldAsync("metrics", "x", group)).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.StartsWith("Kind 'metrics' cannot be put on hold; holdable kinds: execution", (string?)kind["detail"], StringComparison.Ordinal);
        var missing = await (await HoldAsync("execution", "nope", group)).ExpectAsync(HttpStatusCode.NotFound);
        Assert.Equal($"There is no execution 'nope' in scope '{group}' (or it is being deleted).", (string?)missing["detail"]);
        var noReason = await (await HoldAsync("resource_group", group, reason: " ")).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("InvalidHold", (string?)noReason["code"]);
        var noScope = await (await HoldAsync("execution", $"{group}-ex-1")).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("scope is required for kind 'execution': the resource group (AI API) or organisation (LLM Obs) the target lives in.", (string?)noScope["detail"]);
    }
}

public sealed class HoldTestsOnSqlite(SqliteLifecycleServer fixture) : HoldTests(fixture), IClassFixture<SqliteLifecycleServer>;

public sealed class HoldTestsOnPostgres(PostgresLifecycleServer fixture) : HoldTests(fixture), IClassFixture<PostgresLifecycleServer>;
