using System.Diagnostics;
using Runledger.Bench.Harness;
using Runledger.Bench.Report;

namespace Runledger.Bench.Scenarios;

/// <summary>
/// <c>DELETE /v2/lm/executions/{id}</c> of one execution holding 1,000,000 metric points (seeded
/// with one statement): the time to the 202 — "independent of how much data it will cascade to" —
/// and the time until the background cascade has reclaimed every point and the execution itself.
/// </summary>
internal sealed class ExecutionDelete1mScenario : IScenario
{
    public string Name => "execution-delete-1m";

    public string Description => "DELETE /v2/lm/executions/{id} of an execution holding 1,000,000 metric points: time to 202, time until reclaimed, rows/s";

    public TimeSpan Budget => TimeSpan.FromMinutes(10);

    public async Task RunAsync(BenchContext context, ScenarioResult result, CancellationToken cancellationToken)
    {
        var points = context.Size(1_000_000, 5_000);
        result.Parameter("points in the execution", points);

        await using var server = await context.StartServerAsync(cancellationToken);
        if (!context.WorkerEnabled)
        {
            throw new BenchCheckException("This scenario measures the cascade; it cannot run with Lifecycle:WorkerEnabled=false.");
        }

        await server.Store.SeedCompletedExecutionsAsync(BenchContext.ResourceGroup, 2, cancellationToken);
        var execution = BenchIds.Execution(1);
        var warm = BenchIds.Execution(2);
        var seed = Stopwatch.StartNew();
        await server.Store.SeedMetricPointsAsync(BenchContext.ResourceGroup, execution, points, cancellationToken);
        await server.Store.SeedMetricPointsAsync(BenchContext.ResourceGroup, warm, 1_000, cancellationToken);
        context.Progress(Name, $"seeded {points:N0} points in {seed.Elapsed.TotalSeconds:0.0} s");

        // Warm-up (not counted): the same delete of a small execution, so the figure is not the first call's JIT.
        await server.Client.DeleteExecutionAsync(BenchContext.ResourceGroup, warm, cancellationToken);
        await server.Client.WaitForDeletionJobsAsync(TimeSpan.FromMinutes(1), cancellationToken);

        var started = Stopwatch.GetTimestamp();
        var toAccepted = await server.Client.DeleteExecutionAsync(BenchContext.ResourceGroup, execution, cancellationToken);
        var (_, visible) = await server.Client.GetMetricsAsync(BenchContext.ResourceGroup, execution, cancellationToken);
        if (visible != 0)
        {
            throw new BenchCheckException($"{visible} points of the deleted execution were still readable right after the 202.");
        }

        await server.Client.WaitForDeletionJobsAsync(TimeSpan.FromMinutes(8), cancellationToken);
        var reclaimed = Stopwatch.GetElapsedTime(started);
        var left = await server.Store.CountMetricPointsAsync(cancellationToken);
        var executions = await server.Store.CountExecutionsAsync(BenchContext.ResourceGroup, cancellationToken);
        if (left != 0 || executions != 0)
        {
            throw new BenchCheckException($"{left} metric points and {executions} executions were left after the deletion jobs finished; expected none.");
        }

        result.Add("DELETE → 202", toAccepted.TotalMilliseconds, "ms", Targets.ScheduleDelete);
        result.Add("DELETE → all points reclaimed", reclaimed.TotalMilliseconds, "ms");
        result.Add("cascade rows/s", points / reclaimed.TotalSeconds, "rows/s", Targets.CascadeRows);
        result.AddPeakRss(server.Process.PeakRssBytes());
    }
}
