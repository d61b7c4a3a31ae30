using System.Diagnostics;
using System.Net;
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
    private const int IdsPerRequest = 100;

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
        using var http = LlmObsApi.NewClient(server.Process.BaseAddress);
        var project = await LlmObsApi.CreateProjectAsync(http, "bench", cancellationToken);
        var prefix = $"{LlmObsApi.V1}/{project}/datasets";
        var dataset = await LlmObsApi.CreateDatasetAsync(http, project, "bench", cancellationToken);

        var seed = Stopwatch.StartNew();
        await LlmObsApi.SeedRecordsAsync(http, project, dataset, records, cancellationToken);
        context.Progress(Name, $"seeded {records:N0} records in {seed.Elapsed.TotalSeconds:0.0} s");
        result.Add("seed through batch_update", records / seed.Elapsed.TotalSeconds, "records/s");

        // Distinct ids, spread over the whole dataset (a fixed stride walk), none deleted twice.
        var order = Spread(records, (warmup + requests) * IdsPerRequest);
        var url = $"{prefix}/{dataset}/records/delete";
        var samples = new List<TimeSpan>(requests);
        for (var r = 0; r < warmup + requests; r++)
        {
            var ids = string.Join(',', order.Skip(r * IdsPerRequest).Take(IdsPerRequest).Select(i => $"\"rec-{i}\""));
            var elapsed = await LlmObsApi.SendAsync(http, HttpMethod.Post, url, """{"data":{"type":"records","attributes":{"record_ids":[""" + ids + "]}}}", HttpStatusCode.NoContent, cancellationToken);
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
}
