using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using Runledger.Bench.Harness;
using Runledger.Bench.Report;

namespace Runledger.Bench.Scenarios;

/// <summary>
/// Bulk delete through <c>PATCH /v2/lm/executions</c>: 100 distinct executions per request, all
/// <c>targetStatus: DELETED</c>. Held to "scheduling any delete: p99 ≤ 10 ms" per request.
/// </summary>
internal sealed class ExecutionBulkScenario : IScenario
{
    private const int ItemsPerRequest = 100;

    public string Name => "execution-bulk";

    public string Description => "PATCH /v2/lm/executions with 100 DELETED items per request on a 100,000-execution store: time to 202 per request";

    public TimeSpan Budget => TimeSpan.FromMinutes(20);

    public async Task RunAsync(BenchContext context, ScenarioResult result, CancellationToken cancellationToken)
    {
        var rows = context.Size(100_000, 1_000);
        var requests = context.Size(200, 5);
        // Long enough for the JIT's second tier to finish (≈ 7 s of rewriting hot code after load
        // begins); the warm-up's own latencies are reported beside the steady-state ones.
        var warmup = context.Size(300, 2);
        result.Parameter("executions seeded", rows);
        result.Parameter("bulk requests", $"{requests} × {ItemsPerRequest} items");
        result.Parameter("warm-up", warmup);
        result.Parameter("client", "1, sequential");

        await using var server = await context.StartServerAsync(cancellationToken);
        var seed = Stopwatch.StartNew();
        await server.Store.SeedCompletedExecutionsAsync(BenchContext.ResourceGroup, rows, cancellationToken);
        context.Progress(Name, $"seeded {rows:N0} executions in {seed.Elapsed.TotalSeconds:0.0} s");

        var batches = Workload.DistinctExecutionIds(rows, (warmup + requests) * ItemsPerRequest).Chunk(ItemsPerRequest)
            .Select(ids => (Ids: (IReadOnlyList<string>)ids, Body: Body(ids)))
            .ToList();
        var warming = new List<TimeSpan>(warmup);
        foreach (var (ids, body) in batches.Take(warmup))
        {
            warming.Add(await server.Client.BulkModifyExecutionsAsync(BenchContext.ResourceGroup, body, ids, cancellationToken));
        }

        await Workload.SettleAsync(context, server, cancellationToken);

        var samples = new List<TimeSpan>(requests);
        var started = Stopwatch.GetTimestamp();
        foreach (var (ids, body) in batches.Skip(warmup))
        {
            samples.Add(await server.Client.BulkModifyExecutionsAsync(BenchContext.ResourceGroup, body, ids, cancellationToken));
        }

        var latency = Latency.Of(samples);
        result.AddLatency("PATCH 100 → 202", latency, Targets.ScheduleDeleteP99);
        result.Add("PATCH 100 → 202, p50 per item", latency.P50 / ItemsPerRequest, "ms");
        result.AddWarmUp("PATCH 100 → 202", Latency.Of(warming));
        await Workload.FinishJobsAsync(context, server, result, started, requests * ItemsPerRequest, rows - (batches.Count * ItemsPerRequest), "PATCH", cancellationToken);
        result.AddPeakRss(server.Process.PeakRssBytes());
    }

    /// <summary><c>{"executions":[{"id":"…","targetStatus":"DELETED"}, …]}</c>, built before the clock runs.</summary>
    private static byte[] Body(IEnumerable<string> ids)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartArray("executions");
            foreach (var id in ids)
            {
                json.WriteStartObject();
                json.WriteString("id", id);
                json.WriteString("targetStatus", "DELETED");
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
