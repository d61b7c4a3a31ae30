using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Runledger.Bench.Harness;
using Runledger.Bench.Report;

namespace Runledger.Bench.Scenarios;

/// <summary>
/// design.md: "POST …/records/delete of 100 IDs in a 1,000,000-record dataset: p99 ≤ 20 ms".
/// Seeds one dataset through batch_update (2,000 records per request, ids <c>rec-1 … rec-N</c>),
/// then one client deletes 100 distinct live records per request, spread over the dataset.
/// Each delete makes a new dataset version and writes an audit entry in one transaction.
/// </summary>
internal sealed class RecordsDeleteScenario : IScenario
{
    /// <summary>The Datadog key pair the bench server is started with (RUNLEDGER_DD_API_KEY / _APP_KEY).</summary>
    public const string ApiKey = "0123456789abcdef0123456789abcdef";
    public const string AppKey = "0123456789abcdef0123456789abcdef01234567";

    private const int IdsPerRequest = 100;
    private const int SeedBatch = 2_000;

    public static readonly Target RecordsDeleteP99 = Target.AtMost(20, "POST …/records/delete of 100 IDs in a 1,000,000-record dataset: p99 ≤ 20 ms");

    public string Name => "records-delete";

    public string Description => "POST …/records/delete with 100 ids on a 1,000,000-record dataset: p50/p99";

    public TimeSpan Budget => TimeSpan.FromMinutes(20);

    public async Task RunAsync(BenchContext context, ScenarioResult result, CancellationToken cancellationToken)
    {
        var records = context.Size(1_000_000, 20_000);
        var requests = context.Size(1_000, 50);
        var warmup = context.Size(50, 10);
        result.Parameter("records in the dataset", records);
        result.Parameter("ids per request", IdsPerRequest);
        result.Parameter("records/delete requests", requests);
        result.Parameter("warm-up", warmup);
        result.Parameter("client", "1, sequential");

        await using var server = await context.StartServerAsync(cancellationToken);
        using var http = new HttpClient { BaseAddress = server.Process.BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
        http.DefaultRequestHeaders.Add("DD-API-KEY", ApiKey);
        http.DefaultRequestHeaders.Add("DD-APPLICATION-KEY", AppKey);

        var project = await CreateAsync(http, "/api/v2/llm-obs/v1/projects", """{"data":{"type":"projects","attributes":{"name":"bench"}}}""", cancellationToken);
        var prefix = $"/api/v2/llm-obs/v1/{project}/datasets";
        var dataset = await CreateAsync(http, prefix, """{"data":{"type":"datasets","attributes":{"name":"bench"}}}""", cancellationToken);

        var seed = Stopwatch.StartNew();
        for (var from = 1; from <= records; from += SeedBatch)
        {
            var body = new StringBuilder($$"""{"data":{"id":"{{dataset}}","type":"datasets","attributes":{"create_new_version":{{(from == 1 ? "true" : "false")}},"insert_records":[""");
            for (var i = from; i < from + SeedBatch && i <= records; i++)
            {
                body.Append(i == from ? "" : ",").Append($$"""{"id":"rec-{{i}}","input":{"question":"What is {{i}} squared?"},"expected_output":"{{(long)i * i}}"}""");
            }

            body.Append("]}}}");
            await SendAsync(http, HttpMethod.Post, $"{prefix}/{dataset}/batch_update", body.ToString(), HttpStatusCode.OK, cancellationToken);
        }

        context.Progress(Name, $"seeded {records:N0} records in {seed.Elapsed.TotalSeconds:0.0} s");
        result.Add("seed through batch_update", records / seed.Elapsed.TotalSeconds, "records/s");

        // Distinct ids, spread over the whole dataset (a fixed stride walk), none deleted twice.
        var order = Spread(records, (warmup + requests) * IdsPerRequest);
        var url = $"{prefix}/{dataset}/records/delete";
        var samples = new List<TimeSpan>(requests);
        for (var r = 0; r < warmup + requests; r++)
        {
            var ids = string.Join(',', order.Skip(r * IdsPerRequest).Take(IdsPerRequest).Select(i => $"\"rec-{i}\""));
            var elapsed = await SendAsync(http, HttpMethod.Post, url, """{"data":{"type":"records","attributes":{"record_ids":[""" + ids + "]}}}", HttpStatusCode.NoContent, cancellationToken);
            if (r >= warmup)
            {
                samples.Add(elapsed);
            }
        }

        // Every request deleted 100 live records, so each made one version.
        var list = await http.GetAsync($"{prefix}?filter[id]={dataset}", cancellationToken);
        using var listed = JsonDocument.Parse(await list.Content.ReadAsStringAsync(cancellationToken));
        var version = listed.RootElement.GetProperty("data")[0].GetProperty("attributes").GetProperty("current_version").GetInt64();
        if (version != 1 + warmup + requests)
        {
            throw new BenchCheckException($"The dataset is at version {version} after {warmup + requests} deletes; expected {1 + warmup + requests}.");
        }

        result.AddLatency("records/delete (100 ids) → 204", Latency.Of(samples), RecordsDeleteP99);
        result.AddPeakRss(server.Process.PeakRssBytes());
    }

    private static List<int> Spread(int records, int count)
    {
        // A stride coprime with the size visits every record once before repeating.
        var stride = 7_919;
        while (Gcd(stride, records) != 1)
        {
            stride += 2;
        }

        return Enumerable.Range(0, Math.Min(count, records)).Select(k => (int)((long)k * stride % records) + 1).ToList();

        static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);
    }

    private static async Task<string> CreateAsync(HttpClient http, string path, string body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (response.StatusCode != HttpStatusCode.Created)
        {
            throw new BenchCheckException($"POST {path} answered {(int)response.StatusCode}, expected 201: {text}");
        }

        using var json = JsonDocument.Parse(text);
        return json.RootElement.GetProperty("data").GetProperty("id").GetString()!;
    }

    private static async Task<TimeSpan> SendAsync(HttpClient http, HttpMethod method, string path, string body, HttpStatusCode expected, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        var started = Stopwatch.GetTimestamp();
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
        var elapsed = Stopwatch.GetElapsedTime(started);
        if (response.StatusCode != expected)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new BenchCheckException($"{method} {path} answered {(int)response.StatusCode}, expected {(int)expected}: {text[..Math.Min(text.Length, 500)]}");
        }

        return elapsed;
    }
}
