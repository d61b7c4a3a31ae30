using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Dapper;
using Runledger.Api.Tests.Support;
using Runledger.Storage;

namespace Runledger.Api.Tests;

/// <summary>Retention policies evaluated on demand with an advanced clock; each deletion an ordinary job.</summary>
public abstract class RetentionTests(LifecycleServer fixture)
{
    private TestServer Server => fixture.Server;

    private Task<HttpResponseMessage> PutPolicyAsync(string group, string policy, long days) =>
        Server.Admin.PutAsync($"/runledger/v1/retention/resource_group/{group}/{policy}", Http.Json($$"""{"days":{{days}}}"""));

    private async Task<JsonNode> RunAsync(bool dryRun, string group)
    {
        var run = await (await Server.Admin.PostAsync($"/runledger/v1/retention/run?dryRun={(dryRun ? "true" : "false")}", null)).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(dryRun, (bool)run["dryRun"]!);
        return run["results"]!.AsArray().Single(r => (string?)r!["scopeId"] == group)!;
    }

    private async Task<List<string>> RefusalsAsync(string kind, string id)
    {
        var audit = await (await Server.Admin.GetAsync($"/runledger/v1/audit?targetKind={kind}&targetId={id}")).ExpectAsync(HttpStatusCode.OK);
        return audit["entries"]!.AsArray().Where(e => (string?)e!["action"] == "deletion.refused").Select(e => (string)e!["detail"]!).ToList();
    }

    private static List<string> Ids(JsonNode outcome) => outcome["targets"]!.AsArray().Select(t => (string)t!["id"]!).Order(StringComparer.Ordinal).ToList();

    private async Task SetExecutionAsync(string id, string status, DateTimeOffset completed)
    {
        await using var connection = await Server.Service<IDatabase>().OpenAsync(CancellationToken.None);
        await connection.ExecuteAsync(
            "UPDATE executions SET status = @status, completion_time = @completed, modified_at = @completed WHERE id = @id",
            new { id, status, completed = completed.ToUnixTimeMilliseconds() });
    }

    [Fact]
    public async Task TerminalExecutions_OlderThanDays_DryRunListsThenRunSchedulesJobsAndAudits()
    {
        var group = await fixture.SeedGroupAsync(executions: 5);
        var now = fixture.Clock.GetUtcNow();
        foreach (var i in new[] { 1, 2, 3 })
        {
            await SetExecutionAsync($"{group}-ex-{i}", "COMPLETED", now.AddDays(-10));
        }

        await SetExecutionAsync($"{group}-ex-4", "DEAD", now.AddDays(-1));
        await SetExecutionAsync($"{group}-ex-5", "RUNNING", now.AddDays(-30));
        var created = await (await PutPolicyAsync(group, "terminal_executions", 7)).ExpectAsync(HttpStatusCode.Created);
        Http.AssertJson(
            $$"""{"scopeKind":"resource_group","scopeId":"{{group}}","policy":"terminal_executions","days":7,"updatedBy":"{{created["updatedBy"]}}","updatedAt":"{{created["updatedAt"]}}"}""",
            created);

        var rows = await fixture.RowsAsync(group);
        var dry = await RunAsync(dryRun: true, group);
        Assert.Equal([$"{group}-ex-1", $"{group}-ex-2", $"{group}-ex-3"], Ids(dry));
        Assert.Empty(dry["jobs"]!.AsArray());
        Assert.Equal(rows, await fixture.RowsAsync(group));

        var run = await RunAsync(dryRun: false, group);
        Assert.Equal(Ids(dry), Ids(run));
        Assert.Equal(3, run["jobs"]!.AsArray().Count);
        foreach (var jobId in run["jobs"]!.AsArray().Select(j => (string)j!))
        {
            var job = await (await Server.Admin.GetAsync($"/runledger/v1/deletions/{jobId}")).ExpectAsync(HttpStatusCode.OK);
            Assert.Equal("execution", (string?)job["kind"]);
            Assert.Equal("retention", (string?)job["requestedBy"]);
        }

        var audit = await (await Server.Admin.GetAsync("/runledger/v1/audit?targetKind=retention&limit=1000")).ExpectAsync(HttpStatusCode.OK);
        Assert.Contains(audit["entries"]!.AsArray(), e => (string?)e!["action"] == "retention.run" && ((string?)e["detail"])!.Contains($"resource_group {group} terminal_executions: 3 scheduled, 0 refused", StringComparison.Ordinal));

        // Ordinary jobs: within grace they wait, then reclaim; a second run finds nothing new.
        Assert.Empty(Ids(await RunAsync(dryRun: true, group)));
        fixture.Clock.Advance(LifecycleServer.Grace);
        await fixture.RunWorkerAsync();
        using var client = Server.InGroup(group);
        var left = await (await client.GetAsync("/v2/lm/executions")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([$"{group}-ex-4", $"{group}-ex-5"], left["resources"]!.AsArray().Select(e => (string)e!["id"]!).Order(StringComparer.Ordinal));

        // A week later the DEAD one is old enough too; the RUNNING one never is.
        fixture.Clock.Advance(TimeSpan.FromDays(7));
        Assert.Equal([$"{group}-ex-4"], Ids(await RunAsync(dryRun: false, group)));
    }

    [Fact]
    public async Task Metrics_PointsOlderThanDays_RemovedExecutionsAndNewerPointsStay()
    {
        var group = await fixture.SeedGroupAsync(executions: 2);
        var now = fixture.Clock.GetUtcNow();
        var days = (long)(now - DateTimeOffset.Parse("2026-11-10T00:00:00Z", CultureInfo.InvariantCulture)).TotalDays;
        await (await PutPolicyAsync(group, "metrics", days)).ExpectAsync(HttpStatusCode.Created);

        var dry = await RunAsync(dryRun: true, group);
        Assert.Equal([group], Ids(dry));
        var run = await RunAsync(dryRun: false, group);
        var jobId = (string)run["jobs"]!.AsArray().Single()!;
        await fixture.RunWorkerAsync();
        var job = await (await Server.Admin.GetAsync($"/runledger/v1/deletions/{jobId}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("done", (string?)job["state"]);
        Assert.Equal("metric_points_expired", (string?)job["kind"]);
        Assert.Equal(2, (long)job["removed"]!["metric_points"]!);

        using var client = Server.InGroup(group);
        var metrics = await (await client.GetAsync($"/v2/lm/metrics?executionIds={group}-ex-1")).ExpectAsync(HttpStatusCode.OK);
        var resource = metrics["resources"]![0]!;
        Http.AssertJson("""[{"name":"loss","value":0.25,"timestamp":"2026-11-20T00:00:03.000Z","step":3}]""", resource["metrics"]!);
        Http.AssertJson("""[{"name":"team","value":"vision"}]""", resource["tags"]!);
        Assert.Equal("configurations=2 executions=2 logs=2 metric_resources=2 points=2 attributes=4", await fixture.RowsAsync(group));

        // Nothing more until the newer points age past the policy too.
        Assert.Empty(Ids(await RunAsync(dryRun: true, group)));
        fixture.Clock.Advance(TimeSpan.FromDays(11));
        await RunAsync(dryRun: false, group);
        await fixture.RunWorkerAsync();
        Assert.Equal("configurations=2 executions=2 logs=2 metric_resources=2 points=0 attributes=4", await fixture.RowsAsync(group));
    }

    [Fact]
    public async Task HeldGroup_RetentionRefusedWithAuditAndNothingRemoved()
    {
        var group = await fixture.SeedGroupAsync(executions: 2);
        await (await Server.Admin.PutAsync($"/runledger/v1/holds/resource_group/{group}", Http.Json("""{"reason":"audit 2026"}"""))).ExpectAsync(HttpStatusCode.Created);
        await (await PutPolicyAsync(group, "terminal_executions", 1)).ExpectAsync(HttpStatusCode.Created);
        await (await PutPolicyAsync(group, "metrics", 1)).ExpectAsync(HttpStatusCode.Created);
        var rows = await fixture.RowsAsync(group);

        var run = await (await Server.Admin.PostAsync("/runledger/v1/retention/run?dryRun=false", null)).ExpectAsync(HttpStatusCode.OK);
        var mine = run["results"]!.AsArray().Where(r => (string?)r!["scopeId"] == group).ToList();
        Assert.Equal(2, mine.Count);
        Assert.All(mine, r => Assert.Empty(r!["jobs"]!.AsArray()));
        var refused = mine.Single(r => (string?)r!["policy"] == "terminal_executions")!["refused"]!.AsArray().Select(r => (string)r!).ToList();
        Assert.Equal(
            $"The execution '{group}-ex-1' cannot be deleted: the resource_group '{group}' is under legal hold (reason: audit 2026); clear the hold with DELETE /runledger/v1/holds/resource_group/{group} before deleting.",
            refused[0]);
        Assert.Equal(2, refused.Count);

        await fixture.RunWorkerAsync();
        Assert.Equal(rows, await fixture.RowsAsync(group));

        // Held targets are reported by the run, not refused one by one on every run.
        var again = await (await Server.Admin.PostAsync("/runledger/v1/retention/run?dryRun=false", null)).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(2, again["results"]!.AsArray().Single(r => (string?)r!["scopeId"] == group && (string?)r["policy"] == "terminal_executions")!["refused"]!.AsArray().Count);
        Assert.Empty(await RefusalsAsync("metric_points_expired", group));
        Assert.Empty(await RefusalsAsync("execution", $"{group}-ex-1"));
        var runEntry = await (await Server.Admin.GetAsync($"/runledger/v1/audit?targetKind=retention&targetId={(string)again["runId"]!}")).ExpectAsync(HttpStatusCode.OK);
        var detail = (string)runEntry["entries"]!.AsArray().Single()!["detail"]!;
        Assert.Contains($"resource_group {group} terminal_executions: 0 scheduled, 2 refused", detail, StringComparison.Ordinal);
        Assert.Contains($"resource_group {group} metrics: 0 scheduled, 1 refused", detail, StringComparison.Ordinal);
        Assert.Contains($"under legal hold: resource_group '{group}'", detail, StringComparison.Ordinal);
        Assert.Equal(rows, await fixture.RowsAsync(group));
    }

    [Fact]
    public async Task Metrics_OpenJobNotScheduledTwice_HeldExecutionKeepsItsPoints_RunAndPolicyChangesAudited()
    {
        var group = await fixture.SeedGroupAsync(executions: 2);
        var now = fixture.Clock.GetUtcNow();
        var days = (long)(now - DateTimeOffset.Parse("2026-11-10T00:00:00Z", CultureInfo.InvariantCulture)).TotalDays;
        await (await Server.Admin.PutAsync($"/runledger/v1/holds/execution/{group}-ex-1?scope={group}", Http.Json("""{"reason":"case 9"}"""))).ExpectAsync(HttpStatusCode.Created);
        await (await PutPolicyAsync(group, "metrics", days)).ExpectAsync(HttpStatusCode.Created);

        var first = await (await Server.Admin.PostAsync("/runledger/v1/retention/run?dryRun=false", null)).ExpectAsync(HttpStatusCode.OK);
        var runId = (string)first["runId"]!;
        var jobId = (string)first["results"]!.AsArray().Single(r => (string?)r!["scopeId"] == group)!["jobs"]!.AsArray().Single()!;

        // The job is open: neither another run nor a dry run offers the group again.
        Assert.Empty(Ids(await RunAsync(dryRun: false, group)));
        Assert.Empty(Ids(await RunAsync(dryRun: true, group)));
        var open = await (await Server.Admin.GetAsync($"/runledger/v1/deletions?kind=metric_points_expired&targetId={group}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([jobId], open["jobs"]!.AsArray().Select(j => (string?)j!["id"]));

        // Its audit entry, written with the job, names the run that asked.
        var requested = (await (await Server.Admin.GetAsync($"/runledger/v1/audit?jobId={jobId}")).ExpectAsync(HttpStatusCode.OK))["entries"]![0]!;
        Assert.Equal("deletion.requested", (string?)requested["action"]);
        Assert.Equal($"retention run {runId}: resource_group {group} metrics older than {days} days", (string?)requested["detail"]);

        await fixture.RunWorkerAsync();
        var job = await (await Server.Admin.GetAsync($"/runledger/v1/deletions/{jobId}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("done", (string?)job["state"]);
        Assert.Equal(1, (long)job["removed"]!["metric_points"]!);
        using var client = Server.InGroup(group);
        var held = await (await client.GetAsync($"/v2/lm/metrics?executionIds={group}-ex-1")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(2, held["resources"]![0]!["metrics"]!.AsArray().Count);
        var other = await (await client.GetAsync($"/v2/lm/metrics?executionIds={group}-ex-2")).ExpectAsync(HttpStatusCode.OK);
        Http.AssertJson("""[{"name":"loss","value":0.25,"timestamp":"2026-11-20T00:00:03.000Z","step":3}]""", other["resources"]![0]!["metrics"]!);

        // Only the held execution's old point is left, so nothing is offered until the hold is cleared.
        Assert.Empty(Ids(await RunAsync(dryRun: true, group)));
        await (await Server.Admin.DeleteAsync($"/runledger/v1/holds/execution/{group}-ex-1")).ExpectAsync(HttpStatusCode.NoContent);
        Assert.Equal([group], Ids(await RunAsync(dryRun: true, group)));

        await (await Server.Admin.DeleteAsync($"/runledger/v1/retention/resource_group/{group}/metrics")).ExpectAsync(HttpStatusCode.NoContent);
        var audit = await (await Server.Admin.GetAsync($"/runledger/v1/audit?targetKind=resource_group&targetId={group}")).ExpectAsync(HttpStatusCode.OK);
        var changes = audit["entries"]!.AsArray().Where(e => ((string)e!["action"]!).StartsWith("retention.", StringComparison.Ordinal)).ToList();
        Assert.Equal(["retention.policy_set", "retention.policy_cleared"], changes.Select(e => (string?)e!["action"]));
        Assert.Equal([$"metrics: older than {days} days", $"metrics: was older than {days} days"], changes.Select(e => (string?)e!["detail"]));
        Assert.All(changes, e => Assert.Equal("env-admin-token", (string?)e!["actor"]));
    }

    [Fact]
    public async Task Policy_BadRequests_400Or404AndDelete()
    {
        var group = await fixture.SeedGroupAsync(executions: 2);
        var unknown = await (await PutPolicyAsync(group, "everything", 3)).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.StartsWith("There is no retention policy 'everything' for 'resource_group'; available: ", (string?)unknown["detail"], StringComparison.Ordinal);
        Assert.Contains("resource_group/metrics, resource_group/terminal_executions", (string?)unknown["detail"], StringComparison.Ordinal);
        var zero = await (await PutPolicyAsync(group, "metrics", 0)).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("days must be a whole number from 1 to 36500.", (string?)zero["detail"]);
        await (await PutPolicyAsync("rg-missing-0000", "metrics", 3)).ExpectAsync(HttpStatusCode.NotFound);
        var bad = await (await Server.Admin.PostAsync("/runledger/v1/retention/run?dryRun=maybe", null)).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("dryRun is 'maybe'; use true or false.", (string?)bad["detail"]);

        await (await PutPolicyAsync(group, "metrics", 3)).ExpectAsync(HttpStatusCode.Created);
        await (await PutPolicyAsync(group, "metrics", 4)).ExpectAsync(HttpStatusCode.OK);
        var list = await (await Server.Admin.GetAsync($"/runledger/v1/retention?scopeKind=resource_group&scopeId={group}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(4, (long)list["policies"]!.AsArray().Single()!["days"]!);
        Assert.Contains(list["available"]!.AsArray(), a => (string?)a!["policy"] == "terminal_executions");
        await (await Server.Admin.DeleteAsync($"/runledger/v1/retention/resource_group/{group}/metrics")).ExpectAsync(HttpStatusCode.NoContent);
        await (await Server.Admin.DeleteAsync($"/runledger/v1/retention/resource_group/{group}/metrics")).ExpectAsync(HttpStatusCode.NotFound);
    }
}

public sealed class RetentionTestsOnSqlite(SqliteLifecycleServer fixture) : RetentionTests(fixture), IClassFixture<SqliteLifecycleServer>;

public sealed class RetentionTestsOnPostgres(PostgresLifecycleServer fixture) : RetentionTests(fixture), IClassFixture<PostgresLifecycleServer>;
