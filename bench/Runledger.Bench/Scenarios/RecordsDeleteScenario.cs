using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Runledger.Bench.Harness;
using Runledger.Bench.Report;

namespace Runledger.Bench.Scenarios;

/// <summary>
/// design.md: "POST …/records/delete of 100 IDs in a 1,000,000-record dataset: p99 ≤ 20 ms".
/// Seeds one dataset straight into the store (records <c>rec-1 … rec-N</c> in version 1, rows as an
/// append writes them; checked through the API: list, dedupe), then one client deletes 100 distinct
/// live records per request, spread over the dataset. Each delete makes a new dataset version, a
/// finished deletion job and an audit entry in one transaction. Afterwards, on a second dataset of the
/// same store, it times inserts through the API: batch_update and append of 10,000 records a request.
/// </summary>
internal sealed class RecordsDeleteScenario : IScenario
{
    private const int IdsPerRequest = 100;

    public static readonly Target RecordsDeleteP99 = Target.AtMost(20, "POST …/records/delete of 100 IDs in a 1,000,000-record dataset: p99 ≤ 20 ms");

    public string Name => "records-delete";

    public string Description => "POST …/records/delete with 100 ids on a 1,000,000-record dataset: p50/p99";

    public TimeSpan Budget => TimeSpan.FromMinutes(20);

    public async Task RunAsync(BenchContext context, ScenarioResult result, CancellationToken cancellationToken)
    {
        var records = context.Size(1_000_000, 5_000);
        var requests = context.Size(1_000, 20);
        // Long enough for the JIT's second tier to finish (it rewrites the hot code for ≈ 7 s after
        // load begins); the warm-up's own latencies are reported beside the steady-state ones.
        var warmup = context.Size(1_000, 5);
        var insertBatch = context.Size(10_000, 200);
        var insertRequests = context.Size(5, 1);
        result.Parameter("records in the dataset", records);
        result.Parameter("ids per request", IdsPerRequest);
        result.Parameter("records/delete requests", requests);
        result.Parameter("warm-up", warmup);
        result.Parameter("client", "1, sequential");
        result.Parameter("inserts", $"{insertRequests} batch_update + {insertRequests} append requests of {insertBatch:N0} new records, after 1 warm-up each");

        await using var server = await context.StartServerAsync(cancellationToken);
        using var http = LlmObsApi.NewClient(server.Process.BaseAddress);
        var project = await LlmObsApi.CreateProjectAsync(http, "bench", cancellationToken);
        var prefix = $"{LlmObsApi.V1}/{project}/datasets";
        var dataset = await LlmObsApi.CreateDatasetAsync(http, project, "bench", cancellationToken);

        var seed = Stopwatch.StartNew();
        await server.Store.SeedRecordsAsync(dataset, records, cancellationToken);
        var seeded = seed.Elapsed;
        context.Progress(Name, $"seeded {records:N0} records straight into the store in {seeded.TotalSeconds:0.0} s");
        result.Add("seed (straight into the store)", seeded.TotalSeconds, "s");
        await CheckSeedAsync(http, $"{prefix}/{dataset}", records, cancellationToken);

        // Distinct ids, spread over the whole dataset (a fixed stride walk), none deleted twice.
        var order = Spread(records, (warmup + requests) * IdsPerRequest);
        var url = $"{prefix}/{dataset}/records/delete";
        var samples = new List<TimeSpan>(requests);
        var warming = new List<TimeSpan>(warmup);
        for (var r = 0; r < warmup + requests; r++)
        {
            var ids = string.Join(',', order.Skip(r * IdsPerRequest).Take(IdsPerRequest).Select(i => $"\"rec-{i}\""));
            var elapsed = await LlmObsApi.SendAsync(http, HttpMethod.Post, url, """{"data":{"type":"records","attributes":{"record_ids":[""" + ids + "]}}}", HttpStatusCode.NoContent, cancellationToken);
            (r >= warmup ? samples : warming).Add(elapsed);
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
        result.AddWarmUp("records/delete (100 ids) → 204", Latency.Of(warming));

        var target = await LlmObsApi.CreateDatasetAsync(http, project, "bench-inserts", cancellationToken);
        var next = 1;
        foreach (var (what, path, status) in new[] { ("batch_update", "batch_update", HttpStatusCode.OK), ("append", "records", HttpStatusCode.Created) })
        {
            var times = new List<TimeSpan>(insertRequests);
            for (var r = 0; r <= insertRequests; r++)
            {
                var body = path == "batch_update"
                    ? LlmObsApi.BatchUpdateInsertBody(target, next, insertBatch, newVersion: true)
                    : LlmObsApi.AppendBody(next, insertBatch);
                next += insertBatch;
                var elapsed = await LlmObsApi.SendAsync(http, HttpMethod.Post, $"{prefix}/{target}/{path}", body, status, cancellationToken);
                if (r > 0)
                {
                    times.Add(elapsed);
                }
            }

            result.Add($"{what} of {insertBatch:N0} new records, median request", insertBatch / Latency.Of(times).P50 * 1000, "records/s");
        }

        result.AddPeakRss(server.Process.PeakRssBytes());
    }

    /// <summary>The seeded rows are what the API sees: the dataset at version 1, rec-N listed first, and an append of rec-1's input deduplicated away.</summary>
    private static async Task CheckSeedAsync(HttpClient http, string dataset, int records, CancellationToken cancellationToken)
    {
        using (var list = await http.GetAsync($"{dataset}/records?page[limit]=2", cancellationToken))
        {
            var text = await list.Content.ReadAsStringAsync(cancellationToken);
            using var json = list.IsSuccessStatusCode ? JsonDocument.Parse(text) : null;
            var data = json?.RootElement.GetProperty("data");
            if (data is not { } rows || rows.GetArrayLength() != 2 || rows[0].GetProperty("id").GetString() != BenchRecords.Id(records)
                || rows[0].GetProperty("input").GetRawText() != BenchRecords.Input(records))
            {
                throw new BenchCheckException($"After seeding, the records list answered {(int)list.StatusCode}: {text[..Math.Min(text.Length, 500)]}; expected {BenchRecords.Id(records)} first.");
            }
        }

        using var append = new HttpRequestMessage(HttpMethod.Post, $"{dataset}/records")
        {
            Content = new StringContent("""{"data":{"type":"records","attributes":{"records":[{"input":""" + BenchRecords.Input(1) + "}]}}}", System.Text.Encoding.UTF8, "application/json"),
        };
        using var answer = await http.SendAsync(append, cancellationToken);
        var body = await answer.Content.ReadAsStringAsync(cancellationToken);
        if (answer.StatusCode != HttpStatusCode.OK || body != """{"data":[{"records":[]}]}""")
        {
            throw new BenchCheckException($"Appending rec-1's input again answered {(int)answer.StatusCode} {body[..Math.Min(body.Length, 300)]}; expected 200 with no record (deduplicated by input_hash).");
        }
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
}
