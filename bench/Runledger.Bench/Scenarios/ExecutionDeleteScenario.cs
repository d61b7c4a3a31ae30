using System.Diagnostics;
using Runledger.Bench.Harness;
using Runledger.Bench.Report;

namespace Runledger.Bench.Scenarios;

/// <summary>
/// design.md: "scheduling any delete: p99 ≤ 10 ms". One client deletes distinct COMPLETED executions
/// of a large store one by one (the cost of scheduling: mark, job, audit entry in one transaction),
/// while the server's worker cascades the jobs already scheduled; then waits until all are done.
/// </summary>
internal sealed class ExecutionDeleteScenario : IScenario
{
    public string Name => "execution-delete";

    public string Description => "DELETE /v2/lm/executions/{id} on distinct executions of a 100,000-execution store: time to 202, time until the jobs are done";

    public TimeSpan Budget => TimeSpan.FromMinutes(20);

    public async Task RunAsync(BenchContext context, ScenarioResult result, CancellationToken cancellationToken)
    {
        var rows = context.Size(100_000, 1_000);
        var requests = context.Size(2_000, 50);
        // Long enough for the JIT's second tier to finish (≈ 7 s of rewriting hot code after load
        // begins); the warm-up's own latencies are reported beside the steady-state ones.
        var warmup = context.Size(2_000, 10);
        result.Parameter("executions seeded", rows);
        result.Parameter("DELETE requests", requests);
        result.Parameter("warm-up", warmup);
        result.Parameter("client", "1, sequential");

        await using var server = await context.StartServerAsync(cancellationToken);
        var seed = Stopwatch.StartNew();
        await server.Store.SeedCompletedExecutionsAsync(BenchContext.ResourceGroup, rows, cancellationToken);
        context.Progress(Name, $"seeded {rows:N0} executions in {seed.Elapsed.TotalSeconds:0.0} s");

        var ids = Workload.DistinctExecutionIds(rows, warmup + requests);
        var warming = new List<TimeSpan>(warmup);
        foreach (var id in ids.Take(warmup))
        {
            warming.Add(await server.Client.DeleteExecutionAsync(BenchContext.ResourceGroup, id, cancellationToken));
        }

        await Workload.SettleAsync(context, server, cancellationToken);

        var samples = new List<TimeSpan>(requests);
        var started = Stopwatch.GetTimestamp();
        foreach (var id in ids.Skip(warmup))
        {
            samples.Add(await server.Client.DeleteExecutionAsync(BenchContext.ResourceGroup, id, cancellationToken));
        }

        result.AddLatency("DELETE → 202", Latency.Of(samples), Targets.ScheduleDeleteP99);
        result.AddWarmUp("DELETE → 202", Latency.Of(warming));
        await Workload.FinishJobsAsync(context, server, result, started, requests, rows - ids.Count, "DELETE", cancellationToken);
        result.AddPeakRss(server.Process.PeakRssBytes());
    }
}
