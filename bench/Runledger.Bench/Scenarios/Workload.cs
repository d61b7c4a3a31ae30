using System.Diagnostics;
using Runledger.Bench.Harness;
using Runledger.Bench.Report;

namespace Runledger.Bench.Scenarios;

/// <summary>What the deletion scenarios share: which executions to delete, and waiting for their jobs.</summary>
internal static class Workload
{
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromMinutes(10);

    /// <summary>
    /// <paramref name="count"/> distinct seeded execution ids, spread over the whole table in a fixed
    /// pseudo-random order (the same every run, so runs compare), not a run of neighbouring rows.
    /// </summary>
    public static IReadOnlyList<string> DistinctExecutionIds(int seededRows, int count) =>
        DistinctNumbers(seededRows, count).Select(BenchIds.Execution).ToList();

    /// <summary><paramref name="count"/> distinct numbers of 1 … <paramref name="seededRows"/>, in a fixed pseudo-random order.</summary>
    public static IReadOnlyList<int> DistinctNumbers(int seededRows, int count)
    {
        if (count > seededRows)
        {
            throw new ArgumentOutOfRangeException(nameof(count), $"{count} distinct rows were asked for, but only {seededRows} are seeded.");
        }

        var numbers = Enumerable.Range(1, seededRows).ToArray();
#pragma warning disable CA5394 // Not security: a fixed seed makes the order reproducible.
        new Random(20_260_101).Shuffle(numbers);
#pragma warning restore CA5394
        return numbers.Take(count).ToList();
    }

    /// <summary>Between warm-up and measurement: let the worker finish the warm-up's jobs, so every measured run starts alike.</summary>
    public static async Task SettleAsync(BenchContext context, BenchServer server, CancellationToken cancellationToken)
    {
        if (context.WorkerEnabled)
        {
            await server.Client.WaitForDeletionJobsAsync(DrainTimeout, cancellationToken);
        }
    }

    /// <summary>
    /// After the last measured 202: waits until no job is queued or running, checks that exactly the
    /// deleted executions are gone, and adds how long the cascade lagged behind and its rate.
    /// </summary>
    public static async Task FinishJobsAsync(
        BenchContext context, BenchServer server, ScenarioResult result, long measuredSince, int jobs, long executionsLeft, string request, CancellationToken cancellationToken)
    {
        if (!context.WorkerEnabled)
        {
            context.Progress(result.Scenario, "the deletion worker is off: not waiting for jobs");
            return;
        }

        var drain = await server.Client.WaitForDeletionJobsAsync(DrainTimeout, cancellationToken);
        var total = Stopwatch.GetElapsedTime(measuredSince);
        context.Progress(result.Scenario, $"{jobs:N0} deletes scheduled and cascaded in {total.TotalSeconds:0.0} s");

        var left = await server.Store.CountExecutionsAsync(BenchContext.ResourceGroup, cancellationToken);
        if (left != executionsLeft)
        {
            throw new BenchCheckException($"{left:N0} executions are left after all jobs finished; expected {executionsLeft:N0}.");
        }

        result.Add("last 202 → all jobs done", drain.TotalMilliseconds, "ms");
        result.Add($"jobs done per second (first {request} → all done)", jobs / total.TotalSeconds, "jobs/s");
    }
}
