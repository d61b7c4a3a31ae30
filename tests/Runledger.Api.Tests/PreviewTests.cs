using System.Net;
using System.Text.Json.Nodes;
using Runledger.Api.Tests.Support;

namespace Runledger.Api.Tests;

/// <summary>Dry-run: counts per child that equal what the real delete then removes, and nothing changes.</summary>
public abstract class PreviewTests(LifecycleServer fixture)
{
    private TestServer Server => fixture.Server;

    private async Task<JsonNode> PreviewAsync(string targets) =>
        await (await Server.Admin.PostAsync("/runledger/v1/deletions/preview", Http.Json("{\"targets\":" + targets + "}"))).ExpectAsync(HttpStatusCode.OK);

    private static readonly string[] KnownKinds = ["execution", "metrics", "resource_group", "metric_points_expired"];

    /// <summary>A count object as sorted "name=n" pairs, so that key order does not matter.</summary>
    private static string Counts(JsonNode counts) =>
        string.Join(' ', counts.AsObject().OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={(long)p.Value!}"));

    [Fact]
    public async Task Preview_ExecutionAndGroup_CountsEqualWhatTheDeleteRemoves()
    {
        var group = await fixture.SeedGroupAsync(executions: 7);
        var rows = await fixture.RowsAsync(group);
        var preview = await PreviewAsync($$"""[{"kind":"execution","id":"{{group}}-ex-1","scope":"{{group}}"},{"kind":"resource_group","id":"{{group}}"}]""");
        Assert.Equal(rows, await fixture.RowsAsync(group));

        var execution = preview["targets"]![0]!;
        Assert.Equal("execution=1 execution_logs=7 metric_attributes=2 metric_points=2 metric_resources=1", Counts(execution["rows"]!));
        Assert.True((bool)execution["found"]!);
        Assert.True((bool)execution["restorable"]!);
        Assert.Equal("1.00:00:00", (string?)execution["grace"]);
        Assert.Equal(86400, (long)execution["graceSeconds"]!);
        Assert.Null(execution["hold"]);
        Assert.Equal(
            Enumerable.Range(1, 7).Select(i => $"{group}/{group}-ex-1/{i}").Order(StringComparer.Ordinal),
            execution["samples"]!["execution_logs"]!.AsArray().Select(s => (string)s!).Order(StringComparer.Ordinal));
        Assert.Equal(2, execution["samples"]!["metric_points"]!.AsArray().Count);

        // The real deletes, worked after grace: the job's counts are the preview's.
        using var client = Server.InGroup(group);
        var executionJob = (await client.DeleteAsync($"/v2/lm/executions/{group}-ex-1")).JobId();
        fixture.Clock.Advance(LifecycleServer.Grace);
        await fixture.RunWorkerAsync();
        var job = await (await Server.Admin.GetAsync($"/runledger/v1/deletions/{executionJob}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("done", (string?)job["state"]);
        Assert.Equal(Counts(execution["rows"]!), Counts(job["removed"]!));

        var groupPreview = (await PreviewAsync($$"""[{"kind":"resource_group","id":"{{group}}"}]"""))["targets"]![0]!;
        Assert.Equal("configurations=7 execution_logs=0 executions=6 metric_attributes=2 metric_points=2 metric_resources=1 resource_group=1", Counts(groupPreview["rows"]!));
        var groupJob = (await Server.Admin.DeleteAsync($"/v2/admin/resourceGroups/{group}")).JobId();
        fixture.Clock.Advance(LifecycleServer.Grace);
        await fixture.RunWorkerAsync();
        job = await (await Server.Admin.GetAsync($"/runledger/v1/deletions/{groupJob}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(Counts(groupPreview["rows"]!), Counts(job["removed"]!));
    }

    [Fact]
    public async Task Preview_UnknownTarget_FoundFalseBesideKnownOnes()
    {
        var group = await fixture.SeedGroupAsync(executions: 2);
        var preview = await PreviewAsync($$"""[{"kind":"execution","id":"nope","scope":"{{group}}"},{"kind":"metrics","id":"nope","scope":"{{group}}"}]""");
        Http.AssertJson(
            $$"""
            {"targets":[
              {"kind":"execution","id":"nope","scope":"{{group}}","found":false,"rows":{},"samples":{},"grace":"1.00:00:00","graceSeconds":86400,"restorable":true,"hold":null},
              {"kind":"metrics","id":"nope","scope":"{{group}}","found":false,"rows":{},"samples":{},"grace":"1.00:00:00","graceSeconds":86400,"restorable":true,"hold":null}]}
            """,
            preview);
    }

    [Fact]
    public async Task Preview_UnknownKind_400ListingKinds()
    {
        var response = await Server.Admin.PostAsync("/runledger/v1/deletions/preview", Http.Json("""{"targets":[{"kind":"experiment","id":"x","scope":"y"}]}"""));
        var body = await response.ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("InvalidPreview", (string?)body["code"]);
        var detail = (string)body["detail"]!;
        Assert.StartsWith("targets[0].kind 'experiment' is unknown; use one of ", detail, StringComparison.Ordinal);
        foreach (var kind in KnownKinds)
        {
            Assert.Contains(kind, detail, StringComparison.Ordinal);
        }

        var empty = await (await Server.Admin.PostAsync("/runledger/v1/deletions/preview", Http.Json("""{"targets":[]}"""))).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("targets must list 1 to 100 items of {\"kind\", \"id\", \"scope\"}.", (string?)empty["detail"]);
    }
}

public sealed class PreviewTestsOnSqlite(SqliteLifecycleServer fixture) : PreviewTests(fixture), IClassFixture<SqliteLifecycleServer>;

public sealed class PreviewTestsOnPostgres(PostgresLifecycleServer fixture) : PreviewTests(fixture), IClassFixture<PostgresLifecycleServer>;
