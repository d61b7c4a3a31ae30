using System.Net;
using System.Text.Json.Nodes;
using Runledger.Api.Tests.Support;

namespace Runledger.Api.Tests;

/// <summary>
/// The official <c>@datadog/datadog-api-client</c> (tests/interop/datadog, installed by <c>./test.sh</c>
/// with <c>npm ci</c>; <c>v2.AgentObservabilityApi</c>, base server overridden, unstable operations
/// enabled) against the real server: project → dataset → records → experiment → events → listings,
/// then the four delete endpoints. What the client saw is checked, then what the server holds.
/// </summary>
public sealed class DatadogClientInteropTests
{
    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task DatadogClient_WholeFlowAndTheFourDeletes_ClientAcceptsEveryAnswerAndServerStateMatches(Provider provider)
    {
        await using var server = await TestServer.StartAsync(provider);
        var run = await NodeScript.RunAsync(
            Path.Combine(NodeScript.RepoRoot(), "tests", "interop", "datadog"),
            "flow.mjs",
            new Dictionary<string, string>
            {
                ["RUNLEDGER_URL"] = server.BaseAddress.ToString().TrimEnd('/'),
                ["DD_API_KEY"] = TestCredentials.DatadogApiKey,
                ["DD_APP_KEY"] = TestCredentials.DatadogAppKey,
                ["INTEROP_TIMEOUT_SECONDS"] = "90",
            });
        Assert.True(run.ExitCode == 0, run.ToString());
        var flow = JsonNode.Parse(run.Stdout.Trim().Split('\n')[^1])!;

        // What the client returned, call by call (it maps snake_case to camelCase).
        var projectId = (string)flow["project"]!["id"]!;
        var datasetId = (string)flow["dataset"]!["id"]!;
        var experimentId = (string)flow["experiment"]!["id"]!;
        Assert.Equal("projects", (string?)flow["project"]!["type"]);
        Assert.Equal("made by the Datadog client", (string?)flow["project"]!["attributes"]!["description"]);
        Assert.Equal(0, (long)flow["dataset"]!["attributes"]!["currentVersion"]!);
        var recordIds = flow["recordIds"]!.AsArray().Select(r => (string)r!).ToList();
        Assert.Equal(3, recordIds.Count);
        var experiment = flow["experiment"]!["attributes"]!;
        Assert.Equal("interop-experiment", (string?)experiment["name"]);
        Assert.Equal(datasetId, (string?)experiment["datasetId"]);
        Assert.Equal(1, (long)experiment["datasetVersion"]!);
        Assert.Equal("running", (string?)experiment["status"]);
        Http.AssertJson("""{"model":"small"}""", experiment["config"]!);
        Assert.Equal("completed", (string?)flow["completed"]!["attributes"]!["status"]);

        var events = flow["events"]!;
        Http.AssertJson("""
            [{"spanIds":["span-0","span-1"],"evalCounts":[2,1],"firstScore":0.25,"after":"{after}"},
             {"spanIds":["span-2"],"evalCounts":[1],"firstScore":0.75,"after":null}]
            """, events["v3Pages"]!.AsArray().Also(pages => pages[0]!["after"] = "{after}"));
        Assert.Equal(3, (int)events["v1Count"]!);
        Assert.Equal("experiments", (string?)events["v1Type"]);
        Assert.Equal("experiment_events", (string?)events["v2Type"]);
        Assert.Equal(3, (int)events["v2SpanCount"]!);

        Assert.Equal(recordIds.Skip(1).Order(StringComparer.Ordinal), flow["recordsAfterDelete"]!.AsArray().Select(r => (string)r!).Order(StringComparer.Ordinal));
        Assert.Empty(flow["experimentsAfterDelete"]!["live"]!.AsArray());
        Assert.Equal([experimentId], flow["experimentsAfterDelete"]!["deleted"]!.AsArray().Select(e => (string)e!));
        Assert.NotNull((string?)flow["experimentsAfterDelete"]!["deletedAt"]);
        Assert.Empty(flow["datasetsAfterDelete"]!.AsArray());
        Assert.Empty(flow["projectsAfterDelete"]!.AsArray());

        // What the server holds afterwards: the project's cascade reclaims everything, the soft-deleted
        // experiment with it (its own retention job then finds nothing left).
        var jobs = await (await server.Admin.GetAsync("/runledger/v1/deletions?kind=llm_project")).ExpectAsync(HttpStatusCode.OK);
        var projectJob = jobs["jobs"]!.AsArray().Single(j => (string?)j!["targetId"] == projectId)!;
        await server.WaitForJobAsync((string)projectJob["id"]!);
        Assert.Equal(0, await server.CountAsync("SELECT COUNT(*) FROM llm_projects WHERE id = @projectId", new { projectId }));
        Assert.Equal(0, await server.CountAsync("SELECT COUNT(*) FROM llm_experiments WHERE project_id = @projectId", new { projectId }));
        Assert.Equal(0, await server.CountAsync("SELECT COUNT(*) FROM llm_experiment_spans WHERE experiment_id = @experimentId", new { experimentId }));
        Assert.Equal(0, await server.CountAsync("SELECT COUNT(*) FROM llm_experiment_metrics WHERE experiment_id = @experimentId", new { experimentId }));
        Assert.Equal(0, await server.CountAsync("SELECT COUNT(*) FROM llm_records WHERE dataset_id = @datasetId", new { datasetId }));
        Assert.Equal(0, await server.CountAsync("SELECT COUNT(*) FROM llm_datasets WHERE id = @datasetId", new { datasetId }));
    }
}
