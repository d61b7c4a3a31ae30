using Runledger.Bench.Harness;
using Runledger.Bench.Report;

namespace Runledger.Bench.Scenarios;

/// <summary>
/// design.md: "cold start to first answer ≤ 1 s". Process start → first 200 on <c>/readyz</c>
/// (store reachable, every migration applied) on a fresh store each time; then SIGTERM.
/// </summary>
internal sealed class ColdStartScenario : IScenario
{
    public string Name => "cold-start";

    public string Description => "process start → first 200 on /readyz on a fresh store, several times; then SIGTERM → exit";

    public TimeSpan Budget => TimeSpan.FromMinutes(5);

    public async Task RunAsync(BenchContext context, ScenarioResult result, CancellationToken cancellationToken)
    {
        var runs = context.Size(5, 2);
        result.Parameter("starts", runs);

        var starts = new List<TimeSpan>(runs);
        var stops = new List<TimeSpan>(runs);
        long peakRss = 0;
        var problems = new List<string>();
        for (var run = 0; run < runs; run++)
        {
            await using var server = await context.StartServerAsync(cancellationToken);
            starts.Add(server.ColdStart);
            peakRss = Math.Max(peakRss, server.Process.PeakRssBytes());
            var (elapsed, exitCode) = await server.StopAsync();
            stops.Add(elapsed);
            if (exitCode != 0)
            {
                problems.Add(exitCode is null ? $"start {run + 1}: not exited 30 s after SIGTERM (killed)" : $"start {run + 1}: exit code {exitCode} after SIGTERM");
            }

            context.Progress(Name, $"start {run + 1}/{runs}: ready in {server.ColdStart.TotalMilliseconds:0} ms, exited {elapsed.TotalMilliseconds:0} ms after SIGTERM");
        }

        result.Parameter("each (ms)", string.Join(" ", starts.Select(s => s.TotalMilliseconds.ToString("0", System.Globalization.CultureInfo.InvariantCulture))));
        var latency = Latency.Of(starts);
        result.Add("start → first 200 on /readyz, median", latency.P50, "ms", Targets.ColdStart);
        result.Add("start → first 200 on /readyz, max", latency.Max, "ms", Targets.ColdStart);
        result.Add("SIGTERM → exit, max", stops.Max().TotalMilliseconds, "ms");
        result.AddPeakRss(peakRss);
        if (problems.Count > 0)
        {
            throw new BenchCheckException(string.Join("; ", problems));
        }
    }
}
