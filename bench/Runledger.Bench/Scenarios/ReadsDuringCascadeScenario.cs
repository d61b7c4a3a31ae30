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
/// <remarks>
/// The warm-up deletes a smaller execution under the same load first: a cascade's code (the
/// server's worker, the bench's job watch) is otherwise compiled, and then compiled again by the
/// JIT's second tier, inside the measured cascade, on the same two cores as the reads. A server
/// that has been up for a while has that code hot; the figure is meant to be its steady state.
/// </remarks>
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
        var warmupPoints = context.Size(3_000_000, 500);
        result.Parameter("metric points cascaded", points);
        ReadWorkload.Describe(result, executions, records);
        result.Parameter("rate", $"{rate:N0} requests/s in all, fixed (open model), the two reads alternating");
        result.Parameter("warm-up", $"the same load while an execution of {warmupPoints:N0} points is cascaded, then {warmup.TotalSeconds:0.##} s more");
        result.Parameter("idle phase", $"{idle.TotalSeconds:0.#} s");
        result.Parameter("cascade phase", $"from the DELETE until no job is queued or running (at most {maxDuring.TotalSeconds:0} s)");

        await using var server = await context.StartServerAsync(cancellationToken);
        if (!context.WorkerEnabled)
        {
            throw new BenchCheckException("This scenario measures reads while the deletion worker cascades; it cannot run with Lifecycle:WorkerEnabled=false.");
        }

        var reads = await ReadWorkload.SeedAsync(context, server, Name, executions, records, cancellationToken, spare: 1);
        var target = BenchIds.Execution(1);
        var warmupTarget = BenchIds.Execution(executions + 2);
        var seed = Stopwatch.StartNew();
        await server.Store.SeedMetricPointsAsync(BenchContext.ResourceGroup, target, points, cancellationToken);
        await server.Store.SeedMetricPointsAsync(BenchContext.ResourceGroup, warmupTarget, warmupPoints, cancellationToken);
        context.Progress(Name, $"seeded {points:N0} + {warmupPoints:N0} points in {seed.Elapsed.TotalSeconds:0.0} s");

        IReadOnlyList<OpenLoadRequest> mix = [reads.GetExecution, reads.ListRecords];
        using var generator = new OpenLoadGenerator(server.Process.BaseAddress);
        await CascadeUnderLoadAsync(context, server, generator, mix, rate, warmupTarget, "warm-up cascade", maxDuring, cancellationToken);
        await ReadWorkload.RunAsync(context, Name, "warm-up", generator, mix, rate, warmup, CancellationToken.None, cancellationToken);
        var quiet = await ReadWorkload.RunAsync(context, Name, "idle", generator, mix, rate, idle, CancellationToken.None, cancellationToken);

        var (toAccepted, busy, reclaimed) = await CascadeUnderLoadAsync(context, server, generator, mix, rate, target, "during the cascade", maxDuring, cancellationToken);
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

            // The same from each request's send: what the server added, without the generator's own
            // lateness on the two cores it shares with the server (see the send lag below).
            var sentBefore = quiet.LatencyFromSend(kind);
            var sentDuring = busy.LatencyFromSend(kind);
            result.Add($"{mix[kind].Kind}, p99 from send, idle", sentBefore.P99, "ms");
            result.Add($"{mix[kind].Kind}, p99 from send, during the cascade", sentDuring.P99, "ms");
            result.Add($"{mix[kind].Kind}, p99 from send, during ÷ idle", sentDuring.P99 / sentBefore.P99, "x");
        }

        // Both processes share two cores: when the generator itself was late, the reads' latency says so.
        result.Add("generator send lag p99, idle", Latency.Of(quiet.SendLags.ToList()).P99, "ms");
        result.Add("generator send lag p99, during the cascade", Latency.Of(busy.SendLags.ToList()).P99, "ms");
        result.Add("reads during the cascade, errors", busy.Errors, "requests", Targets.NoErrors);
        result.Add("reads during the cascade, achieved rate", busy.AchievedRate, "req/s", Target.AtLeast(rate * 0.99, "the fixed rate asked for (within 1%)"));
        result.Add("reads idle, errors", quiet.Errors, "requests", Targets.NoErrors);
        result.Add("DELETE → 202", toAccepted.TotalMilliseconds, "ms", Targets.ScheduleDelete);
        result.Add("DELETE → all points reclaimed", reclaimed.TotalMilliseconds, "ms");
        result.Add("cascade rows/s under the read load", points / reclaimed.TotalSeconds, "rows/s", Targets.CascadeRows);
        result.AddPeakRss(server.Process.PeakRssBytes());
    }

    /// <summary>Deletes <paramref name="target"/> and runs the read load until its cascade is done: time to 202, the load, time to reclaimed.</summary>
    private async Task<(TimeSpan ToAccepted, OpenLoadResult Load, TimeSpan Reclaimed)> CascadeUnderLoadAsync(
        BenchContext context, BenchServer server, OpenLoadGenerator generator, IReadOnlyList<OpenLoadRequest> mix, double rate, string target, string phase, TimeSpan maxDuring, CancellationToken cancellationToken)
    {
        using var cascadeDone = new CancellationTokenSource();
        var started = Stopwatch.GetTimestamp();
        var toAccepted = await server.Client.DeleteExecutionAsync(BenchContext.ResourceGroup, target, cancellationToken);
        var watch = WatchAsync(server, maxDuring + TimeSpan.FromMinutes(5), started, cascadeDone, cancellationToken);
        var load = await ReadWorkload.RunAsync(context, Name, phase, generator, mix, rate, maxDuring, cascadeDone.Token, cancellationToken);
        return (toAccepted, load, await watch);
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
