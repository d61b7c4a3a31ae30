using System.Net;
using System.Text.Json.Nodes;
using Dapper;
using Runledger.Api.Tests.Support;
using Runledger.Storage;

namespace Runledger.Api.Tests;

/// <summary>Experiment events: the push (202, every field validated) and the v1, v2 and v3 listings.</summary>
public abstract class EventTests(ClockedServer fixture)
{
    private TestServer Server => fixture.Server;

    /// <summary>A valid push of <paramref name="spans"/> spans with one score metric each.</summary>
    internal static StringContent Push(string projectId, int spans, int offset = 0)
    {
        var spanArray = new JsonArray();
        var metricArray = new JsonArray();
        for (var i = offset; i < offset + spans; i++)
        {
            spanArray.Add(new JsonObject
            {
                ["trace_id"] = $"trace-{i}",
                ["span_id"] = $"span-{i}",
                ["project_id"] = projectId,
                ["dataset_id"] = "dataset-1",
                ["name"] = "llm_call",
                ["start_ns"] = 1705314600000000000L + i,
                ["duration"] = 1500000000L,
                ["status"] = "ok",
            });
            metricArray.Add(new JsonObject { ["span_id"] = $"span-{i}", ["metric_type"] = "score", ["timestamp_ms"] = 1705314600000L, ["label"] = "faithfulness", ["score_value"] = 0.5 });
        }

        return Body(new JsonObject { ["spans"] = spanArray, ["metrics"] = metricArray });
    }

    private static StringContent Body(JsonObject attributes) => Http.JsonApi("events", attributes);

    private async Task<(string Project, string Experiment)> ExperimentAsync()
    {
        var project = await ExperimentTests.ProjectAsync(Server.Datadog);
        return (project, await ExperimentTests.ExperimentAsync(Server.Datadog, project));
    }

    private async Task<long> RowsAsync(string experimentId)
    {
        await using var connection = await Server.Service<IDatabase>().OpenAsync(CancellationToken.None);
        return await connection.ExecuteScalarAsync<long>(
            "SELECT (SELECT COUNT(*) FROM llm_experiment_spans WHERE experiment_id = @experimentId) + (SELECT COUNT(*) FROM llm_experiment_metrics WHERE experiment_id = @experimentId)",
            new { experimentId });
    }

    /// <summary>Server-made ids are random: replace every "id" member by "{id}" before comparing.</summary>
    private static JsonNode WithoutIds(JsonNode node)
    {
        var copy = node.DeepClone();
        Walk(copy);
        return copy;

        static void Walk(JsonNode? n)
        {
            if (n is JsonObject obj)
            {
                if (obj.ContainsKey("id"))
                {
                    obj["id"] = "{id}";
                }

                foreach (var (_, child) in obj.ToList())
                {
                    Walk(child);
                }
            }
            else if (n is JsonArray array)
            {
                foreach (var child in array)
                {
                    Walk(child);
                }
            }
        }
    }

    private const string SpanOne = """
        {"id":"{id}","span_id":"s1","trace_id":"t1","name":"llm_call","start_ns":1705314600000000000,"duration":1500000000,"status":"ok","tags":["env:ci"],
         "meta":{"input":{"q":"hi"},"output":"hello","expected_output":{"a":"hello"}},
         "eval_metrics":[
           {"id":"{id}","span_id":"s1","trace_id":"t1","metric_type":"score","label":"faithfulness","timestamp_ms":1705314600000,"score_value":0.9,"assessment":"pass","reasoning":"grounded","tags":["k:v"],"metric_source":"custom"},
           {"id":"{id}","span_id":"s1","trace_id":"t1","metric_type":"boolean","label":"exact","timestamp_ms":1705314600001,"boolean_value":true,"tags":[],"metric_source":"custom"}]}
        """;

    private const string SpanTwo = """
        {"id":"{id}","span_id":"s2","trace_id":"t2","name":"retrieve","start_ns":1705314600100000000,"duration":2000,"status":"error","tags":[],
         "meta":{"error":{"message":"boom","type":"TimeoutError"}},
         "eval_metrics":[
           {"id":"{id}","span_id":"s2","trace_id":"t2","metric_type":"categorical","label":"tone","timestamp_ms":1705314600002,"categorical_value":"rude","assessment":"fail","metadata":{"judge":"llm"},"tags":[],"metric_source":"custom"}]}
        """;

    private const string Summary = """
        [{"id":"{id}","span_id":"","metric_type":"json","label":"summary","timestamp_ms":1705314600003,"json_value":{"mean":0.5},"tags":[],"metric_source":"summary"},
         {"id":"{id}","span_id":"not-a-span","metric_type":"score","label":"overall","timestamp_ms":1705314600004,"score_value":0.7,"tags":[],"metric_source":"summary"}]
        """;

    private static StringContent FullPush(string project) => Http.Json($$$"""
        {"data":{"type":"events","attributes":{
          "spans":[
            {"trace_id":"t1","span_id":"s1","project_id":"{{{project}}}","dataset_id":"d1","name":"llm_call","start_ns":1705314600000000000,"duration":1500000000,"status":"ok","tags":["env:ci"],
             "meta":{"input":{"q":"hi"},"output":"hello","expected_output":{"a":"hello"} } },
            {"trace_id":"t2","span_id":"s2","project_id":"{{{project}}}","dataset_id":"d1","name":"retrieve","start_ns":1705314600100000000,"duration":2000,"status":"error",
             "meta":{"error":{"message":"boom","type":"TimeoutError"} } }],
          "metrics":[
            {"span_id":"s1","metric_type":"score","timestamp_ms":1705314600000,"label":"faithfulness","score_value":0.9,"assessment":"pass","reasoning":"grounded","tags":["k:v"]},
            {"span_id":"s1","metric_type":"boolean","timestamp_ms":1705314600001,"label":"exact","boolean_value":true},
            {"span_id":"s2","metric_type":"categorical","timestamp_ms":1705314600002,"label":"tone","categorical_value":"rude","assessment":"fail","metadata":{"judge":"llm"}},
            {"span_id":"","metric_type":"json","timestamp_ms":1705314600003,"label":"summary","json_value":{"mean":0.5}},
            {"span_id":"not-a-span","metric_type":"score","timestamp_ms":1705314600004,"label":"overall","score_value":0.7}]} } }
        """);

    [Fact]
    public async Task Push_202NoBody_ThenV1V2V3InTheSpecShapes()
    {
        var (project, experiment) = await ExperimentAsync();
        var response = await Server.Datadog.PostAsync($"/api/v2/llm-obs/v1/experiments/{experiment}/events", FullPush(project));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal("", await response.Content.ReadAsStringAsync());
        Assert.Equal(7, await RowsAsync(experiment));

        var v1 = await (await Server.Datadog.GetAsync($"/api/v2/llm-obs/v1/experiments/{experiment}/events")).ExpectAsync(HttpStatusCode.OK);
        Http.AssertJson($$"""{"data":[{"id":"{id}","type":"experiments","attributes":{{SpanOne}}},{"id":"{id}","type":"experiments","attributes":{{SpanTwo}}}]}""", WithoutIds(v1));
        Assert.Equal((string?)v1["data"]![0]!["id"], (string?)v1["data"]![0]!["attributes"]!["id"]);

        var v2 = await (await Server.Datadog.GetAsync($"/api/v2/llm-obs/v2/experiments/{experiment}/events")).ExpectAsync(HttpStatusCode.OK);
        Http.AssertJson("{\"data\":{\"id\":\"" + experiment + "\",\"type\":\"experiment_events\",\"attributes\":{\"spans\":[" + SpanOne + "," + SpanTwo + "],\"summary_metrics\":" + Summary + "}}}", WithoutIds(v2).AsObject().Also(o => o["data"]!["id"] = experiment));

        var v3 = await (await Server.Datadog.GetAsync($"/api/v2/llm-obs/v3/experiments/{experiment}/events")).ExpectAsync(HttpStatusCode.OK);
        Http.AssertJson("{\"data\":{\"id\":\"" + experiment + "\",\"type\":\"experiment_events\",\"attributes\":{\"spans\":[" + SpanOne + "," + SpanTwo + "],\"summary_metrics\":" + Summary + "}},\"meta\":{\"after\":null}}", WithoutIds(v3).AsObject().Also(o => o["data"]!["id"] = experiment));
    }

    [Fact]
    public async Task V3_PagesBySpansWithCursor_SummaryOnTheFirstPage()
    {
        var (project, experiment) = await ExperimentAsync();
        await (await Server.Datadog.PostAsync($"/api/v2/llm-obs/v1/experiments/{experiment}/events", Push(project, 3))).ExpectAsync(HttpStatusCode.Accepted);
        await (await Server.Datadog.PostAsync($"/api/v2/llm-obs/v1/experiments/{experiment}/events", Push(project, 2, offset: 3))).ExpectAsync(HttpStatusCode.Accepted);
        await (await Server.Datadog.PostAsync($"/api/v2/llm-obs/v1/experiments/{experiment}/events", Http.Json("""{"data":{"type":"events","attributes":{"metrics":[{"span_id":"","metric_type":"score","timestamp_ms":1,"label":"mean","score_value":0.5}]}}}"""))).ExpectAsync(HttpStatusCode.Accepted);

        var spans = new List<string>();
        var summaries = new List<int>();
        var url = $"/api/v2/llm-obs/v3/experiments/{experiment}/events?page%5Blimit%5D=2";
        string? after;
        do
        {
            var page = await (await Server.Datadog.GetAsync(url)).ExpectAsync(HttpStatusCode.OK);
            var attributes = page["data"]!["attributes"]!;
            foreach (var span in attributes["spans"]!.AsArray())
            {
                spans.Add((string)span!["span_id"]!);
                Assert.Equal((string)span["span_id"]!, (string?)span["eval_metrics"]![0]!["span_id"]);
            }

            summaries.Add(attributes["summary_metrics"]!.AsArray().Count);
            after = (string?)page["meta"]!["after"];
            url = $"/api/v2/llm-obs/v3/experiments/{experiment}/events?page[limit]=2&page[cursor]={after}";
        }
        while (after is not null);

        Assert.Equal(["span-0", "span-1", "span-2", "span-3", "span-4"], spans);
        Assert.Equal([1, 0, 0], summaries);
        var all = await (await Server.Datadog.GetAsync($"/api/v2/llm-obs/v3/experiments/{experiment}/events")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(5, all["data"]!["attributes"]!["spans"]!.AsArray().Count);
        var bad = await (await Server.Datadog.GetAsync($"/api/v2/llm-obs/v3/experiments/{experiment}/events?page[cursor]=%%%")).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("page[cursor]", (string?)bad["errors"]![0]!["source"]!["parameter"]);
    }

    public static TheoryData<string, string, string> InvalidEvents => new()
    {
        { """{"spans":[{SPAN},{"span_id":"s","project_id":"p","dataset_id":"d","name":"n","start_ns":1,"duration":1,"status":"ok"}]}""", "/data/attributes/spans/1/trace_id", "spans[1].trace_id is required." },
        { """{"spans":[{SPAN},{SPAN},{SPAN},{"trace_id":"t","span_id":"s","project_id":"p","dataset_id":"d","name":"n","start_ns":"soon","duration":1,"status":"ok"}]}""", "/data/attributes/spans/3/start_ns", "spans[3].start_ns must be a whole number (int64), not string." },
        { """{"spans":[{"trace_id":"t","span_id":"s","project_id":"p","dataset_id":"d","name":"n","start_ns":1.5,"duration":1,"status":"ok"}]}""", "/data/attributes/spans/0/start_ns", "spans[0].start_ns must be a whole number (int64), not 1.5." },
        { """{"spans":[{"trace_id":"t","span_id":"s","project_id":"p","dataset_id":"d","name":"n","start_ns":1,"duration":-1,"status":"ok"}]}""", "/data/attributes/spans/0/duration", "spans[0].duration is -1; it must be 0 or more." },
        { """{"spans":[{"trace_id":"t","span_id":"s","project_id":"p","dataset_id":"d","name":"n","start_ns":1,"duration":1,"status":"done"}]}""", "/data/attributes/spans/0/status", "spans[0].status 'done' is not one of: ok, error." },
        { """{"spans":[{"trace_id":"t","span_id":"s","project_id":"p","dataset_id":"","name":"n","start_ns":1,"duration":1,"status":"ok"}]}""", "/data/attributes/spans/0/dataset_id", "spans[0].dataset_id must not be empty." },
        { """{"spans":[{"trace_id":"t","span_id":"s","project_id":"p","dataset_id":"d","name":"n","start_ns":1,"duration":1,"status":"ok","tags":["a",3]}]}""", "/data/attributes/spans/0/tags/1", "spans[0].tags[1] must be a string, not number." },
        { """{"spans":[{"trace_id":"t","span_id":"s","project_id":"p","dataset_id":"d","name":"n","start_ns":1,"duration":1,"status":"ok","meta":{"error":{"message":5}}}]}""", "/data/attributes/spans/0/meta/error/message", "spans[0].meta.error.message must be a string, not number." },
        { """{"spans":[{"trace_id":"t","span_id":"s","project_id":"p","dataset_id":"d","name":"n","start_ns":1,"duration":1,"status":"ok","meta":{"expected_output":"x"}}]}""", "/data/attributes/spans/0/meta/expected_output", "spans[0].meta.expected_output must be an object, not string." },
        { """{"spans":[7]}""", "/data/attributes/spans/0", "spans[0] must be an object, not number." },
        { """{"spans":{}}""", "/data/attributes/spans", "spans must be an array, not object." },
        { """{"metrics":[{"metric_type":"score","timestamp_ms":1,"label":"l"}]}""", "/data/attributes/metrics/0/span_id", "metrics[0].span_id is required." },
        { """{"metrics":[{"span_id":"s","metric_type":"rating","timestamp_ms":1,"label":"l"}]}""", "/data/attributes/metrics/0/metric_type", "metrics[0].metric_type 'rating' is not one of: score, categorical, boolean, json." },
        { """{"metrics":[{"span_id":"s","metric_type":"score","label":"l"}]}""", "/data/attributes/metrics/0/timestamp_ms", "metrics[0].timestamp_ms is required." },
        { """{"metrics":[{"span_id":"s","metric_type":"score","timestamp_ms":1}]}""", "/data/attributes/metrics/0/label", "metrics[0].label is required." },
        { """{"metrics":[{"span_id":"s","metric_type":"score","timestamp_ms":1,"label":"l","score_value":"high"}]}""", "/data/attributes/metrics/0/score_value", "metrics[0].score_value must be a finite number, not string." },
        { """{"metrics":[{"span_id":"s","metric_type":"boolean","timestamp_ms":1,"label":"l","boolean_value":"yes"}]}""", "/data/attributes/metrics/0/boolean_value", "metrics[0].boolean_value must be true or false, not string." },
        { """{"metrics":[{"span_id":"s","metric_type":"json","timestamp_ms":1,"label":"l","json_value":[1]}]}""", "/data/attributes/metrics/0/json_value", "metrics[0].json_value must be an object, not array." },
        { """{"metrics":[{"span_id":"s","metric_type":"boolean","timestamp_ms":1,"label":"l","score_value":1}]}""", "/data/attributes/metrics/0/score_value", "metrics[0].score_value is only used when metric_type is 'score'; this metric's metric_type is 'boolean'." },
        { """{"metrics":[{"span_id":"s","metric_type":"score","timestamp_ms":1,"label":"l","assessment":"ok"}]}""", "/data/attributes/metrics/0/assessment", "metrics[0].assessment 'ok' is not one of: pass, fail." },
        { """{"metrics":[{"span_id":"s","metric_type":"score","timestamp_ms":1,"label":"l","error":{"message":false}}]}""", "/data/attributes/metrics/0/error/message", "metrics[0].error.message must be a string, not boolean." },
    };

    [Theory]
    [MemberData(nameof(InvalidEvents))]
    public async Task Push_Invalid_400NamesTheJsonPointerAndNothingStored(string attributes, string jsonPointer, string detail)
    {
        var (_, experiment) = await ExperimentAsync();
        const string span = """{"trace_id":"t","span_id":"s","project_id":"p","dataset_id":"d","name":"n","start_ns":1,"duration":1,"status":"ok"}""";
        var json = """{"data":{"type":"events","attributes":""" + attributes.Replace("{SPAN}", span, StringComparison.Ordinal) + "}}";
        var response = await Server.Datadog.PostAsync($"/api/v2/llm-obs/v1/experiments/{experiment}/events", Http.Json(json));
        Http.AssertJson(LlmObsErrors.Body(400, "Bad Request", detail, "InvalidRequest", pointer: jsonPointer), await response.ExpectAsync(HttpStatusCode.BadRequest), response.RequestId());
        Assert.Equal(0, await RowsAsync(experiment));
    }

    [Fact]
    public async Task Push_WrongTypeMalformedOrUnknownExperiment_ErrorsAndNothingStored()
    {
        var (project, experiment) = await ExperimentAsync();
        var wrongType = await (await Server.Datadog.PostAsync($"/api/v2/llm-obs/v1/experiments/{experiment}/events", Http.JsonApi("experiments", new JsonObject()))).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("/data/type", (string?)wrongType["errors"]![0]!["source"]!["pointer"]);
        var malformed = await (await Server.Datadog.PostAsync($"/api/v2/llm-obs/v1/experiments/{experiment}/events", Http.Json("""{"data":{"type":"events","attributes":{"spans":[}}}"""))).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("MalformedBody", (string?)malformed["errors"]![0]!["meta"]!["code"]);
        Assert.Equal(0, await RowsAsync(experiment));

        var unknown = await Server.Datadog.PostAsync("/api/v2/llm-obs/v1/experiments/nope/events", Push(project, 1));
        Http.AssertJson(
            LlmObsErrors.Body(404, "Not Found", "Experiment 'nope' does not exist (or has been deleted).", "ExperimentNotFound", parameter: "experiment_id"),
            await unknown.ExpectAsync(HttpStatusCode.NotFound), unknown.RequestId());
        foreach (var version in new[] { "v1", "v2", "v3" })
        {
            var list = await Server.Datadog.GetAsync($"/api/v2/llm-obs/{version}/experiments/nope/events");
            Http.AssertJson(
                LlmObsErrors.Body(404, "Not Found", "Experiment 'nope' does not exist (or has been deleted).", "ExperimentNotFound", parameter: "experiment_id"),
                await list.ExpectAsync(HttpStatusCode.NotFound), list.RequestId());
        }
    }

    [Fact]
    public async Task Push_Large_StoredSetBasedAndListedInOrder()
    {
        var (project, experiment) = await ExperimentAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await (await Server.Datadog.PostAsync($"/api/v2/llm-obs/v1/experiments/{experiment}/events", Push(project, 2_000), timeout.Token)).ExpectAsync(HttpStatusCode.Accepted);
        Assert.Equal(4_000, await RowsAsync(experiment));
        var v2 = await (await Server.Datadog.GetAsync($"/api/v2/llm-obs/v2/experiments/{experiment}/events", timeout.Token)).ExpectAsync(HttpStatusCode.OK);
        var spans = v2["data"]!["attributes"]!["spans"]!.AsArray();
        Assert.Equal(2_000, spans.Count);
        Assert.Equal("span-1999", (string?)spans[^1]!["span_id"]);
        Assert.Single(spans[^1]!["eval_metrics"]!.AsArray());
    }
}

public sealed class EventTestsOnSqlite(SqliteClockedServer fixture) : EventTests(fixture), IClassFixture<SqliteClockedServer>;

public sealed class EventTestsOnPostgres(PostgresClockedServer fixture) : EventTests(fixture), IClassFixture<PostgresClockedServer>;

internal static class JsonNodeExtensions
{
    public static T Also<T>(this T node, Action<T> change)
    {
        change(node);
        return node;
    }
}
