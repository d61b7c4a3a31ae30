using System.Net;
using System.Text.Json.Nodes;
using Runledger.Api.Tests.Support;

namespace Runledger.Api.Tests;

/// <summary>
/// The official <c>@sap-ai-sdk/ai-api</c> client (tests/interop/sap-ai-sdk, installed by
/// <c>./test.sh</c> with <c>npm ci</c>) against the real server: it authenticates from
/// <c>AICORE_SERVICE_KEY</c> through <c>POST /oauth/token</c> and runs an execution's whole life,
/// then the bulk PATCH. What the SDK saw is checked, and then what the server holds afterwards.
/// </summary>
public sealed class SapSdkInteropTests
{
    private const string ScenarioId = "interop-scn";
    private const string ExecutableId = "interop-sleeper";
    private static readonly string[] BeforeRunning = ["PENDING", "RUNNING"];
    private static readonly string[] WhileStopping = ["RUNNING", "STOPPING", "STOPPED"];

    // Runs until stopped; says when it started and when SIGTERM arrived, so the logs show the stop reached it.
    private const string Template = """
        scenario:
          id: interop-scn
          name: Interop scenario
          description: Written by SapSdkInteropTests.
        executable:
          id: interop-sleeper
          name: Interop sleeper
          version: "1.0"
          description: Runs until it is stopped.
          command: ["sh", "-c", "trap 'echo got TERM; exit 0' TERM; echo started; while true; do sleep 0.1; done"]
        """;

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task SapSdk_RunStopDeleteThenBulk_SdkAcceptsEveryAnswerAndServerStateMatches(Provider provider)
    {
        var templates = Path.Combine(Path.GetTempPath(), "runledger-tests", "interop-templates-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(templates);
        await File.WriteAllTextAsync(Path.Combine(templates, "interop.yaml"), Template);
        try
        {
            await using var server = await TestServer.StartAsync(provider, new Dictionary<string, string?>
            {
                ["Runner:TemplatesDir"] = templates,
                ["Runner:PollSeconds"] = "0.2",
                ["Runner:StopGraceSeconds"] = "5",
            });

            var flow = await RunFlowAsync(server);
            var single = flow["single"]!;
            var bulk = flow["bulk"]!;
            var configurationId = (string)flow["configuration"]!["id"]!;
            var executionId = (string)single["id"]!;
            var toStop = (string)bulk["toStop"]!;
            var toDelete = (string)bulk["toDelete"]!;

            // What the SDK returned, call by call.
            Assert.Equal("Configuration created", (string?)flow["configuration"]!["message"]);
            Assert.Equal(ScenarioId, (string?)flow["configurationRead"]!["scenarioId"]);
            Assert.Equal(ExecutableId, (string?)flow["configurationRead"]!["executableId"]);
            Http.AssertJson($$"""{"id":"{{executionId}}","message":"Execution scheduled","status":"PENDING"}""", single["create"]!);
            Assert.Equal("RUNNING", Statuses(single["statusesUntilRunning"]!).Last());
            Assert.All(Statuses(single["statusesUntilRunning"]!), s => Assert.Contains(s, BeforeRunning));
            Assert.Equal(configurationId, (string?)single["running"]!["configurationId"]);
            Assert.Equal("COMPLETED", (string?)single["running"]!["targetStatus"]);
            Http.AssertJson($$"""{"id":"{{executionId}}","message":"Execution modification scheduled"}""", single["stop"]!);
            Assert.Equal("STOPPED", Statuses(single["statusesUntilStopped"]!).Last());
            Assert.All(Statuses(single["statusesUntilStopped"]!), s => Assert.Contains(s, WhileStopping));
            Assert.Equal("STOPPED", (string?)single["stopped"]!["targetStatus"]);
            Assert.Equal(0, (int)single["stopped"]!["statusDetails"]!["exitCode"]!);
            Assert.Equal(202, (int)single["delete"]!["status"]!);
            Http.AssertJson($$"""{"id":"{{executionId}}","message":"Deletion scheduled","targetStatus":"DELETED"}""", single["delete"]!["body"]!);
            Assert.Equal(404, (int)single["afterDelete"]!["notFound"]!["status"]!);
            Assert.Equal("ExecutionNotFound", (string?)single["afterDelete"]!["notFound"]!["body"]!["error"]!["code"]);

            // The bulk answer has one entry per item, in the request's order.
            Assert.Equal(202, (int)bulk["response"]!["status"]!);
            Http.AssertJson(
                $$"""{"executions":[{"id":"{{toStop}}","message":"Execution modification scheduled"},{"id":"{{toDelete}}","message":"Execution modification scheduled"}]}""",
                bulk["response"]!["body"]!);
            Assert.Equal("STOPPED", (string?)bulk["stopped"]!["status"]);
            Assert.Equal(404, (int)bulk["afterDelete"]!["notFound"]!["status"]!);
            Assert.Equal(1, (int)flow["executionsLeft"]!["count"]!);
            Assert.Equal(toStop, (string?)flow["executionsLeft"]!["resources"]![0]!["id"]);

            // What the server holds afterwards, over plain HTTP with a token of the same client.
            var jobIds = JobIds(single["delete"]!).Concat(JobIds(bulk["response"]!)).ToList();
            Assert.Equal(2, jobIds.Count);
            foreach (var jobId in jobIds)
            {
                await server.WaitForJobAsync(jobId);
            }

            using var client = server.NewClient(await AuthTests.IssueTokenAsync(server.Anonymous));
            client.DefaultRequestHeaders.Add("AI-Resource-Group", "default");
            foreach (var gone in new[] { executionId, toDelete })
            {
                var body = await (await client.GetAsync($"/v2/lm/executions/{gone}")).ExpectAsync(HttpStatusCode.NotFound);
                Assert.Equal("ExecutionNotFound", (string?)body["error"]!["code"]);
                await (await client.GetAsync($"/v2/lm/executions/{gone}/logs")).ExpectAsync(HttpStatusCode.NotFound);
            }

            var kept = await (await client.GetAsync($"/v2/lm/executions/{toStop}")).ExpectAsync(HttpStatusCode.OK);
            Assert.Equal("STOPPED", (string?)kept["status"]);
            Assert.Equal("STOPPED", (string?)kept["targetStatus"]);
            var logs = await (await client.GetAsync($"/v2/lm/executions/{toStop}/logs")).ExpectAsync(HttpStatusCode.OK);
            var lines = logs["data"]!["result"]!.AsArray().Select(l => (string)l!["msg"]!).ToList();
            // The shell may also report its killed 'sleep' child ("Terminated"), depending on timing.
            Assert.Equal("started", lines.First());
            Assert.Contains("got TERM", lines);

            var count = await (await client.GetAsync("/v2/lm/executions/$count")).Content.ReadAsStringAsync();
            Assert.Equal("1", count);
            await (await client.GetAsync($"/v2/lm/configurations/{configurationId}")).ExpectAsync(HttpStatusCode.OK);
        }
        finally
        {
            Directory.Delete(templates, recursive: true);
        }
    }

    private static Task<JsonNode> RunFlowAsync(TestServer server) =>
        SapSdk.RunFlowAsync(server, "flow.mjs", new Dictionary<string, string>
        {
            ["INTEROP_SCENARIO_ID"] = ScenarioId,
            ["INTEROP_EXECUTABLE_ID"] = ExecutableId,
            ["INTEROP_TIMEOUT_SECONDS"] = "90",
        });

    private static List<string> Statuses(JsonNode seen) => seen.AsArray().Select(s => (string)s!).ToList();

    private static IEnumerable<string> JobIds(JsonNode response) => response["jobIds"]!.AsArray().Select(j => (string)j!);
}
