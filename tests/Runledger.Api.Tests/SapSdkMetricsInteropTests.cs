using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Dapper;
using Runledger.Api.Tests.Support;
using Runledger.Storage;

namespace Runledger.Api.Tests;

/// <summary>
/// The official <c>@sap-ai-sdk/ai-api</c> client's <c>MetricsApi</c> (tests/interop/sap-ai-sdk/metrics.mjs)
/// against the real server: <c>metricsPatch</c>, <c>metricsFind</c> and <c>metricsDelete</c> on a
/// finished execution. What the SDK sent and parsed is checked, and then what the server holds afterwards.
/// </summary>
public sealed class SapSdkMetricsInteropTests
{
    private const string ScenarioId = "interop-metrics-scn";
    private const string ExecutableId = "interop-echo";
    private const string NoMetrics = "nometrics0000";
    private static readonly string[] UntilCompleted = ["PENDING", "RUNNING", "COMPLETED"];
    private static readonly string[] ResourceFields = ["executionId", "createdAt", "modifiedAt", "metrics", "tags", "customInfo"];
    private static readonly string[] TagsOnly = ["executionId", "createdAt", "modifiedAt", "tags"];
    private static readonly string[] MetricsAndCustomInfo = ["executionId", "createdAt", "modifiedAt", "metrics", "customInfo"];

    private const string Template = """
        scenario:
          id: interop-metrics-scn
          name: Interop metrics scenario
          description: Written by SapSdkMetricsInteropTests.
        executable:
          id: interop-echo
          name: Interop echo
          version: "1.0"
          description: Ends at once.
          command: ["sh", "-c", "echo done"]
        """;

    // Both PATCHes merged: points in (timestamp, step) order with the offset time in UTC, tags by name
    // with 'stage' replaced by the second PATCH, customInfo as sent.
    private const string ExpectedMetrics = """
        [{"name":"accuracy","value":0.75,"timestamp":"2025-12-31T23:00:02.500Z","step":2,"labels":[{"name":"metrics.ai.sap.com/Artifact.name","value":"model-a"}]},
         {"name":"loss","value":0.9,"timestamp":"2026-01-01T00:00:01.000Z","step":1,"labels":[{"name":"split","value":"train"}]},
         {"name":"loss","value":0.5,"timestamp":"2026-01-01T00:00:02.000Z","step":2},
         {"name":"loss","value":0.25,"timestamp":"2026-01-01T00:00:03.000Z"}]
        """;

    private const string ExpectedTags = """[{"name":"owner","value":"ml platform"},{"name":"stage","value":"prod"},{"name":"team","value":"vision"}]""";
    private const string ExpectedCustomInfo = """[{"name":"Confusion Matrix","value":"[{\"Predicted\":\"False\",\"Actual\":\"False\",\"value\":34}]"}]""";
    private const string NotFoundBody = """{"error":{"code":"NotFound","message":"Metrics was not found.","requestId":"{requestId}","target":"/metrics","details":[{"code":"NotFound","message":"Empty result set."}]}}""";

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task SapSdk_PatchFindDeleteMetrics_SdkSendsAndParsesEveryCallAndNothingRemains(Provider provider)
    {
        var templates = Path.Combine(Path.GetTempPath(), "runledger-tests", "interop-metrics-templates-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(templates);
        await File.WriteAllTextAsync(Path.Combine(templates, "interop-metrics.yaml"), Template);
        try
        {
            await using var server = await TestServer.StartAsync(provider, new Dictionary<string, string?>
            {
                ["Runner:TemplatesDir"] = templates,
                ["Runner:PollSeconds"] = "0.2",
            });

            var flow = await SapSdk.RunFlowAsync(server, "metrics.mjs", new Dictionary<string, string>
            {
                ["INTEROP_SCENARIO_ID"] = ScenarioId,
                ["INTEROP_EXECUTABLE_ID"] = ExecutableId,
                ["INTEROP_TIMEOUT_SECONDS"] = "90",
            });
            var id = (string)flow["executionId"]!;
            var statuses = flow["statusesUntilCompleted"]!.AsArray().Select(s => (string)s!).ToList();
            Assert.Equal("COMPLETED", statuses.Last());
            Assert.All(statuses, s => Assert.Contains(s, UntilCompleted));

            // metricsPatch: merge-patch JSON out, 204 with an empty body back, both times.
            foreach (var patch in new[] { flow["patch"]!["first"]!, flow["patch"]!["second"]! })
            {
                AssertCall(patch["response"]!, "PATCH", "/v2/lm/metrics", HttpStatusCode.NoContent, "application/merge-patch+json");
                Assert.Equal("", (string?)patch["response"]!["body"]);
                Assert.Equal(id, (string?)patch["body"]!["executionId"]);
            }

            // metricsFind: executionIds (an array in the SDK) goes out comma-joined; the answer parses whole.
            var find = flow["find"]!;
            var full = AssertFound(find["byExecutionIds"]!, $"/v2/lm/metrics?executionIds={id}", id);
            Assert.Equal(ResourceFields, full.Select(p => p.Key));
            Http.AssertJson(ExpectedMetrics, full["metrics"]!);
            Http.AssertJson(ExpectedTags, full["tags"]!);
            Http.AssertJson(ExpectedCustomInfo, full["customInfo"]!);
            var createdAt = DateTimeOffset.Parse((string)full["createdAt"]!, CultureInfo.InvariantCulture);
            var modifiedAt = DateTimeOffset.Parse((string)full["modifiedAt"]!, CultureInfo.InvariantCulture);
            Assert.True(modifiedAt >= createdAt, $"modifiedAt {modifiedAt:O} is before createdAt {createdAt:O}");
            Http.AssertJson(full.ToJsonString(), AssertFound(find["byTwoExecutionIds"]!, $"/v2/lm/metrics?executionIds={id},{NoMetrics}", id));

            // The SDK does not encode query values: a $filter with spaces never leaves the client, and an
            // encoded one reaches the server as the deprecated filter.
            Assert.Equal("ERR_UNESCAPED_CHARACTERS", (string?)find["byFilterAsIs"]!["clientError"]!["code"]);
            Assert.Null(find["byFilterAsIs"]!["status"]);
            Http.AssertJson(full.ToJsonString(), AssertFound(find["byFilterEncoded"]!, $"/v2/lm/metrics?$filter=executionId%20eq%20'{id}'", id));

            AssertFound(find["tagMatch"]!, $"/v2/lm/metrics?executionIds={id}&tagFilters=stage=prod,team", id);
            AssertFound(find["tagEncodedValue"]!, $"/v2/lm/metrics?executionIds={id}&tagFilters=owner=ml%20platform", id);
            AssertEmpty(find["tagNoMatch"]!, $"/v2/lm/metrics?executionIds={id}&tagFilters=stage=dev");
            AssertEmpty(find["tagNotEqual"]!, $"/v2/lm/metrics?executionIds={id}&tagFilters=team!=vision");

            var tags = AssertFound(find["selectTags"]!, $"/v2/lm/metrics?executionIds={id}&$select=tags", id);
            Assert.Equal(TagsOnly, tags.Select(p => p.Key));
            Http.AssertJson(ExpectedTags, tags["tags"]!);
            var metricsAndInfo = AssertFound(find["selectMetricsAndCustomInfo"]!, $"/v2/lm/metrics?executionIds={id}&$select=metrics,customInfo", id);
            Assert.Equal(MetricsAndCustomInfo, metricsAndInfo.Select(p => p.Key));
            Http.AssertJson(ExpectedMetrics, metricsAndInfo["metrics"]!);
            Http.AssertJson(full.ToJsonString(), AssertFound(find["selectAll"]!, $"/v2/lm/metrics?executionIds={id}&$select=*", id));
            AssertFound(find["firstPage"]!, $"/v2/lm/metrics?executionIds={id}&$top=1&$skip=0", id);
            AssertEmpty(find["secondPage"]!, $"/v2/lm/metrics?executionIds={id}&$top=1&$skip=1");

            // metricsDelete, then nothing to find, then the SDK's error for the second delete: status,
            // request id header and body, parsed and as the exact text.
            var delete = flow["delete"]!;
            AssertCall(delete, "DELETE", $"/v2/lm/metrics?executionId={id}", HttpStatusCode.OK);
            Http.AssertJson($$"""{"id":"{{id}}","message":"Metric Resource was successfully deleted"}""", delete["body"]!);
            var jobId = Assert.Single(delete["jobIds"]!.AsArray().Select(j => (string)j!));
            AssertEmpty(flow["afterDelete"]!, $"/v2/lm/metrics?executionIds={id}");

            foreach (var again in new[] { flow["deleteAgain"]!, flow["deleteAgainText"]! })
            {
                AssertCall(again, "DELETE", $"/v2/lm/metrics?executionId={id}", HttpStatusCode.NotFound);
                Assert.Equal("Request failed with status code 404.", (string?)again["sdkMessage"]);
                Assert.Equal("application/json", (string?)again["contentType"]);
            }

            var requestId = (string)flow["deleteAgain"]!["requestId"]!;
            Http.AssertJson(NotFoundBody, flow["deleteAgain"]!["body"]!, requestId);
            var textRequestId = (string)flow["deleteAgainText"]!["requestId"]!;
            Assert.Equal(NotFoundBody.Replace("{requestId}", textRequestId, StringComparison.Ordinal), (string?)flow["deleteAgainText"]!["body"]);

            // What the server holds afterwards, over plain HTTP with a token of the same client.
            var job = await server.WaitForJobAsync(jobId);
            Assert.Equal("metrics", (string?)job["kind"]);
            Http.AssertJson("""{"metric_points":4,"metric_attributes":4,"metrics":1}""", job["removed"]!);
            var pending = await (await server.Admin.GetAsync("/runledger/v1/deletions?scope=default")).ExpectAsync(HttpStatusCode.OK);
            Assert.DoesNotContain(pending["jobs"]!.AsArray(), j => (string?)j!["state"] is "queued" or "running");
            Assert.Equal(0, await RowsAsync(server, id));

            using var client = server.NewClient(await AuthTests.IssueTokenAsync(server.Anonymous));
            client.DefaultRequestHeaders.Add("AI-Resource-Group", "default");
            Http.AssertJson("""{"count":0,"resources":[]}""", await (await client.GetAsync($"/v2/lm/metrics?executionIds={id}")).ExpectAsync(HttpStatusCode.OK));
            Http.AssertJson("""{"count":0,"resources":[]}""", await (await client.GetAsync($"/v2/lm/metrics?$filter=executionId eq '{id}'")).ExpectAsync(HttpStatusCode.OK));
            var third = await client.DeleteAsync($"/v2/lm/metrics?executionId={id}");
            Http.AssertJson(NotFoundBody, await third.ExpectAsync(HttpStatusCode.NotFound), third.RequestId());

            // Only the metrics went: the execution is still there.
            var execution = await (await client.GetAsync($"/v2/lm/executions/{id}")).ExpectAsync(HttpStatusCode.OK);
            Assert.Equal("COMPLETED", (string?)execution["status"]);
        }
        finally
        {
            Directory.Delete(templates, recursive: true);
        }
    }

    /// <summary>The request line the SDK sent and the status it got.</summary>
    private static void AssertCall(JsonNode call, string method, string path, HttpStatusCode status, string? requestContentType = "application/json")
    {
        Assert.Equal(method, (string?)call["request"]!["method"]);
        Assert.Equal(path, (string?)call["request"]!["path"]);
        Assert.Equal(requestContentType, (string?)call["request"]!["contentType"]);
        Assert.Equal((int)status, (int)call["status"]!);
    }

    /// <summary>A metricsFind answer with exactly the execution's resource; returns that resource.</summary>
    private static JsonObject AssertFound(JsonNode call, string path, string executionId)
    {
        AssertCall(call, "GET", path, HttpStatusCode.OK);
        Assert.Equal(1, (int)call["body"]!["count"]!);
        var resource = Assert.Single(call["body"]!["resources"]!.AsArray())!.AsObject();
        Assert.Equal(executionId, (string?)resource["executionId"]);
        return resource;
    }

    private static void AssertEmpty(JsonNode call, string path)
    {
        AssertCall(call, "GET", path, HttpStatusCode.OK);
        Http.AssertJson("""{"count":0,"resources":[]}""", call["body"]!);
    }

    /// <summary>Every metric point, tag, customInfo and metric resource row of the execution, live or being deleted.</summary>
    private static async Task<long> RowsAsync(TestServer server, string executionId)
    {
        await using var connection = await server.Service<IDatabase>().OpenAsync(CancellationToken.None);
        return await connection.ExecuteScalarAsync<long>(
            "SELECT (SELECT COUNT(*) FROM metric_points WHERE resource_id IN (SELECT id FROM metric_resources WHERE execution_id = @executionId))" +
            " + (SELECT COUNT(*) FROM metric_attributes WHERE resource_id IN (SELECT id FROM metric_resources WHERE execution_id = @executionId))" +
            " + (SELECT COUNT(*) FROM metric_resources WHERE execution_id = @executionId)",
            new { executionId });
    }
}
