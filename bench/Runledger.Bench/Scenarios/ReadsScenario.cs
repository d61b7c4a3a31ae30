using Runledger.Bench.Harness;
using Runledger.Bench.Report;

namespace Runledger.Bench.Scenarios;

/// <summary>
/// design.md: "reads (GET /v2/lm/executions/{id}, list 100 records): p99 ≤ 5 ms at 2,000
/// requests/s; server RSS ≤ 200 MB under that load". Each read on its own at a fixed 2,000
/// requests/s (open model: latency from each request's due time), after a warm-up of both.
/// </summary>
internal sealed class ReadsScenario : IScenario
{
    public string Name => "reads";

    public string Description => "GET /v2/lm/executions/{id} and list 100 records, each at a fixed 2,000 requests/s (open model): p50/p99/p99.9, errors";

    public TimeSpan Budget => TimeSpan.FromMinutes(10);

    public async Task RunAsync(BenchContext context, ScenarioResult result, CancellationToken cancellationToken)
    {
        var executions = context.Size(10_000, 100);
        var records = context.Size(10_000, 100);
        var rate = context.Size(2_000, 200);
        var duration = TimeSpan.FromSeconds(context.Size(20, 0.5));
        // Long enough for the JIT's second tier and the store's work after seeding (a checkpoint
        // of the seeded rows) to be done: with 3 s, the first read measured took 1.1 cores
        // where the same read later took 0.74.
        var warmup = TimeSpan.FromSeconds(context.Size(10, 0.25));
        ReadWorkload.Describe(result, executions, records);
        result.Parameter("rate", $"{rate:N0} requests/s, fixed (open model), each read on its own");
        result.Parameter("duration", $"{duration.TotalSeconds:0.#} s per read (after a {warmup.TotalSeconds:0.##} s warm-up of both)");

        await using var server = await context.StartServerAsync(cancellationToken);
        var reads = await ReadWorkload.SeedAsync(context, server, Name, executions, records, cancellationToken);
        using var generator = new OpenLoadGenerator(server.Process.BaseAddress);
        await ReadWorkload.RunAsync(context, Name, "warm-up", generator, [reads.GetExecution, reads.ListRecords], rate, warmup, CancellationToken.None, cancellationToken);

        foreach (var read in new[] { reads.GetExecution, reads.ListRecords })
        {
            var cpuBefore = server.Process.CpuTime();
            var load = await ReadWorkload.RunAsync(context, Name, read.Kind, generator, [read], rate, duration, CancellationToken.None, cancellationToken);
            var cpu = server.Process.CpuTime() - cpuBefore;
            result.AddOpenLoad(read.Kind, load, load.Latency(), Targets.ReadP99);
            result.Add($"{read.Kind}, server CPU use", cpu.TotalSeconds / load.SchedulingTime.TotalSeconds, "cores");
        }

        result.AddPeakRss(server.Process.PeakRssBytes());
    }
}
