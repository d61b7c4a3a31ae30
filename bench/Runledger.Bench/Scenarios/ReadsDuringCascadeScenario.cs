using System.Diagnostics;
using Runledger.Bench.Harness;
using Runledger.Bench.Report;

namespace Runledger.Bench.Scenarios;

/// <summary>
/// design.md: "cascade throughput: ≥ 1,000,000 child rows/s removed in the background while other
/// traffic keeps p99 within 2x of its idle value". The read load of <c>reads</c> (both reads in
/// turn, 2,000 requests/s in all) first on an idle server, then from the moment an execution
/// holding 10,000,000 metric points is deleted until its cascade has finished.
/// </summary>
internal sealed class ReadsDuringCascadeScenario : IScenario
{
    public string Name => "reads-during-cascade";

    public string Description => "the read load (2,000 requests/s) idle, then while a 10,000,000-row cascade runs: p99 during vs idle, cascade rows/s";

    public TimeSpan Budget => TimeSpan.FromMinutes(20);

    public async Task RunAsync(BenchContext context, ScenarioResult result, CancellationToken cancellationToken)
    {
        var points = context.Size(10_000_000, 5_000);
        var executions = context.Size(10_000, 100);
        var records = context.Size(10_000, 100);
        var rate = context.Size(2_000, 200);
        var idle = TimeSpan.FromSeconds(context.Size(10, 0.5));
        var maxDuring = TimeSpan.FromSeconds(context.Size(120, 10));
        var warmup = TimeSpan.FromSeconds(context.Size(10, 0.25));
        result.Parameter("metric points cascaded", points);
        ReadWorkload.Describe(result, executions, records);
        result.Parameter("rate", $"{rate:N0} requests/s in all, fixed (open model), the two reads alternating");
        result.Parameter("idle phase", $"{idle.TotalSeconds:0.#} s (after a {warmup.TotalSeconds:0.##} s warm-up)");
        result.Parameter("cascade phase", $"from the DELETE until no job is queued or running (at most {maxDuring.TotalSeconds:0} s)");

        await using var server = await context.StartServerAsync(cancellationToken);
        if (!context.WorkerEnabled)
        {
            throw new BenchCheckException("This scenario measures reads while the deletion worker cascades; it cannot run with Lifecycle:WorkerEnabled=false.");
        }

        var reads = await ReadWorkload.SeedAsync(context, server, Name, executions, records, cancellationToken);
        var target = BenchIds.Execution(1);
        var seed = Stopwatch.StartNew();
        await server.Store.SeedMetricPointsAsync(BenchContext.ResourceGroup, target, points, cancellationToken);
        context.Progress(Name, $"seeded {points:N0} points in {seed.Elapsed.TotalSeconds:0.0} s");

        IReadOnlyList<OpenLoadRequest> mix = [reads.GetExecution, reads.ListRecords];
        using var generator = new OpenLoadGenerator(server.Process.BaseAddress);
        await ReadWorkload.RunAsync(context, Name, "warm-up", generator, mix, rate, warmup, CancellationToken.None, cancellationToken);
        var quiet = await ReadWorkload.RunAsync(context, Name, "idle", generator, mix, rate, idle, CancellationToken.None, cancellationToken);

        using var cascadeDone = new CancellationTokenSource();
        var started = Stopwatch.GetTimestamp();
        var toAccepted = await server.Client.DeleteExecutionAsync(BenchContext.ResourceGroup, target, cancellationToken);
        var watch = WatchAsync(server, maxDuring + TimeSpan.FromMinutes(5), started, cascadeDone, cancellationToken);
        var busy = await ReadWorkload.RunAsync(context, Name, "during the cascade", generator, mix, rate, maxDuring, cascadeDone.Token, cancellationToken);
        var reclaimed = await watch;
        context.Progress(Name, $"{points:N0} points reclaimed {reclaimed.TotalSeconds:0.0} s after the DELETE");

        var left = await server.Store.CountMetricPointsAsync(cancellationToken);
        if (left != 0)
        {
            throw new BenchCheckException($"{left} metric points were left after the deletion job finished.");
        }

        for (var kind = 0; kind < mix.Count; kind++)
        {
            var before = quiet.Latency(kind);
            var during = busy.Latency(kind);
            result.Add($"{mix[kind].Kind}, p99 idle", before.P99, "ms", Targets.ReadP99);
            result.Add($"{mix[kind].Kind}, p99 during the cascade", during.P99, "ms", Targets.ReadP99);
            result.Add($"{mix[kind].Kind}, p99.9 during the cascade", during.P999, "ms");
            // Against an idle phase that was itself overloaded (requests failed or timed out) the
            // ratio compares two queues, not the cascade's effect: shown, but not judged.
            if (quiet.Errors == 0)
            {
                result.Add($"{mix[kind].Kind}, p99 during ÷ idle", during.P99 / before.P99, "x", Targets.CascadeReadRatio);
            }
            else
            {
                result.Add($"{mix[kind].Kind}, p99 during ÷ idle (idle phase overloaded: not judged)", during.P99 / before.P99, "x");
            }
        }

        result.Add("reads during the cascade, errors", busy.Errors, "requests", Targets.NoErrors);
        result.Add("reads during the cascade, achieved rate", busy.AchievedRate, "req/s", Target.AtLeast(rate * 0.99, "the fixed rate asked for (within 1%)"));
        result.Add("reads idle, errors", quiet.Errors, "requests", Targets.NoErrors);
        result.Add("DELETE → 202", toAccepted.TotalMilliseconds, "ms", Targets.ScheduleDelete);
        result.Add("DELETE → all points reclaimed", reclaimed.TotalMilliseconds, "ms");
        result.Add("cascade rows/s under the read load", points / reclaimed.TotalSeconds, "rows/s", Targets.CascadeRows);
        result.AddPeakRss(server.Process.PeakRssBytes());
    }

    /// <summary>Waits until no deletion job is queued or running, then stops the read load; returns the time since <paramref name="started"/>.</summary>
    private static async Task<TimeSpan> WatchAsync(BenchServer server, TimeSpan timeout, long started, CancellationTokenSource done, CancellationToken cancellationToken)
    {
        try
        {
            await server.Client.WaitForDeletionJobsAsync(timeout, cancellationToken);
            return Stopwatch.GetElapsedTime(started);
        }
        finally
        {
            await done.CancelAsync();
        }
    }
}
