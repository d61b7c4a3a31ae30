using System.Diagnostics;
using System.Globalization;
using System.Text;
using Runledger.Bench.Harness;
using Runledger.Bench.Report;

namespace Runledger.Bench.Scenarios;

/// <summary>
/// design.md: "metric ingest through PATCH /v2/lm/metrics: ≥ 500,000 metric points/s sustained".
/// Several clients, each a training process logging to its own execution, PATCH batches of 1,000
/// points (no timestamps: the server's time, as a live run logs) for a fixed time, closed loop.
/// </summary>
internal sealed class MetricIngestScenario : IScenario
{
    public const int BatchSize = 1_000;

    public string Name => "metric-ingest";

    public string Description => "PATCH /v2/lm/metrics, 1,000-point batches, several concurrent clients for a fixed time: points/s, p50/p99 per request";

    public TimeSpan Budget => TimeSpan.FromMinutes(5);

    public async Task RunAsync(BenchContext context, ScenarioResult result, CancellationToken cancellationToken)
    {
        var clients = context.Size(4, 2);
        var duration = TimeSpan.FromSeconds(context.Size(20, 2));
        result.Parameter("clients", clients);
        result.Parameter("batch", $"{BatchSize:N0} points");
        // "Sustained": the warm-up outlasts the JIT's second tier, which rewrites the hot code for ≈ 7 s
        // after load begins (with 2 s it took ≈ 15% of the server's CPU in the measured window).
        var warmup = TimeSpan.FromSeconds(context.Size(10, 1));
        result.Parameter("duration", $"{duration.TotalSeconds:0} s (after a {warmup.TotalSeconds:0} s warm-up)");

        await using var server = await context.StartServerAsync(cancellationToken);
        await server.Store.SeedCompletedExecutionsAsync(BenchContext.ResourceGroup, clients, cancellationToken);
        var bodies = Enumerable.Range(1, clients).Select(i => Body(BenchIds.Execution(i))).ToList();
        var apis = Enumerable.Range(0, clients).Select(_ => new ApiClient(server.Process.BaseAddress, context.AdminToken)).ToList();
        try
        {
            await RunForAsync(apis, bodies, warmup, [], cancellationToken);
            var samples = new List<TimeSpan>();
            var started = Stopwatch.GetTimestamp();
            var cpuBefore = server.Process.CpuTime();
            await RunForAsync(apis, bodies, duration, samples, cancellationToken);
            var elapsed = Stopwatch.GetElapsedTime(started);
            var cpu = server.Process.CpuTime() - cpuBefore;
            result.Add("points/s", samples.Count * (double)BatchSize / elapsed.TotalSeconds, "points/s", Targets.MetricIngest);
            result.Add("server CPU per 1,000 points", cpu.TotalMilliseconds / samples.Count, "ms");
            result.Add("server CPU use", cpu.TotalSeconds / elapsed.TotalSeconds, "cores");
            result.AddLatency("PATCH 1,000 points → 204", Latency.Of(samples));
            result.AddPeakRss(server.Process.PeakRssBytes());
        }
        finally
        {
            apis.ForEach(a => a.Dispose());
        }
    }

    /// <summary>Each client sends batch after batch until the time is up; samples are collected in one list.</summary>
    private static Task RunForAsync(List<ApiClient> apis, List<byte[]> bodies, TimeSpan duration, List<TimeSpan> samples, CancellationToken cancellationToken)
    {
        var until = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        return Task.WhenAll(apis.Select(async (api, i) =>
        {
            var mine = new List<TimeSpan>();
            while (Stopwatch.GetTimestamp() < until)
            {
                mine.Add(await api.PatchMetricsAsync(BenchContext.ResourceGroup, bodies[i], cancellationToken));
            }

            lock (samples)
            {
                samples.AddRange(mine);
            }
        }));
    }

    public static byte[] Body(string executionId, int points = BatchSize)
    {
        var json = new StringBuilder(points * 48).Append("{\"executionId\":\"").Append(executionId).Append("\",\"metrics\":[");
        for (var i = 0; i < points; i++)
        {
            json.Append(i == 0 ? "" : ",").Append("{\"name\":\"").Append(i % 2 == 0 ? "loss" : "accuracy")
                .Append("\",\"value\":").Append((0.5 + (i * 1e-4)).ToString(CultureInfo.InvariantCulture))
                .Append(",\"step\":").Append(i).Append('}');
        }

        return Encoding.UTF8.GetBytes(json.Append("]}").ToString());
    }
}

/// <summary>
/// <c>GET /v2/lm/metrics</c> of one execution holding 100,000 points (logged through the API in
/// 1,000-point batches first): p50/p99 of the whole answer read.
/// </summary>
internal sealed class MetricGetScenario : IScenario
{
    public string Name => "metric-get";

    public string Description => "GET /v2/lm/metrics of one execution holding 100,000 points: p50/p99";

    public TimeSpan Budget => TimeSpan.FromMinutes(5);

    public async Task RunAsync(BenchContext context, ScenarioResult result, CancellationToken cancellationToken)
    {
        var points = context.Size(100_000, 2_000);
        var requests = context.Size(50, 5);
        result.Parameter("points in the execution", points);
        result.Parameter("GET requests", requests);

        await using var server = await context.StartServerAsync(cancellationToken);
        await server.Store.SeedCompletedExecutionsAsync(BenchContext.ResourceGroup, 1, cancellationToken);
        var execution = BenchIds.Execution(1);
        var body = MetricIngestScenario.Body(execution);
        for (var logged = 0; logged < points; logged += MetricIngestScenario.BatchSize)
        {
            await server.Client.PatchMetricsAsync(BenchContext.ResourceGroup, body, cancellationToken);
        }

        var (_, warm) = await server.Client.GetMetricsAsync(BenchContext.ResourceGroup, execution, cancellationToken);
        if (warm != points)
        {
            throw new BenchCheckException($"GET /v2/lm/metrics returned {warm} points, expected {points}.");
        }

        var samples = new List<TimeSpan>(requests);
        for (var i = 0; i < requests; i++)
        {
            samples.Add((await server.Client.GetMetricsAsync(BenchContext.ResourceGroup, execution, cancellationToken)).Elapsed);
        }

        result.AddLatency($"GET {points:N0} points → 200", Latency.Of(samples));
        result.AddPeakRss(server.Process.PeakRssBytes());
    }
}

/// <summary>
/// <c>DELETE /v2/lm/metrics</c> of an execution holding 1,000,000 points: the time to the 200 (the
/// points must be unreadable by then) and the time until the background cascade has reclaimed them.
/// </summary>
internal sealed class MetricDeleteScenario : IScenario
{
    public string Name => "metric-delete";

    public string Description => "DELETE /v2/lm/metrics of a 1,000,000-point execution: time to 200, time until reclaimed, rows/s";

    public TimeSpan Budget => TimeSpan.FromMinutes(10);

    public async Task RunAsync(BenchContext context, ScenarioResult result, CancellationToken cancellationToken)
    {
        var points = context.Size(1_000_000, 20_000);
        result.Parameter("points in the execution", points);

        await using var server = await context.StartServerAsync(cancellationToken);
        await server.Store.SeedCompletedExecutionsAsync(BenchContext.ResourceGroup, 2, cancellationToken);
        var execution = BenchIds.Execution(1);
        var seed = Stopwatch.StartNew();
        await server.Store.SeedMetricPointsAsync(BenchContext.ResourceGroup, execution, points, cancellationToken);
        context.Progress(Name, $"seeded {points:N0} points in {seed.Elapsed.TotalSeconds:0.0} s");

        // Warm-up (not counted): the same request on a small execution, so the figure is not the first call's JIT.
        await server.Client.PatchMetricsAsync(BenchContext.ResourceGroup, MetricIngestScenario.Body(BenchIds.Execution(2)), cancellationToken);
        await server.Client.DeleteMetricsAsync(BenchContext.ResourceGroup, BenchIds.Execution(2), cancellationToken);
        await server.Client.GetMetricsAsync(BenchContext.ResourceGroup, BenchIds.Execution(2), cancellationToken);
        await server.Client.WaitForDeletionJobsAsync(TimeSpan.FromMinutes(1), cancellationToken);

        var started = Stopwatch.GetTimestamp();
        var toAnswer = await server.Client.DeleteMetricsAsync(BenchContext.ResourceGroup, execution, cancellationToken);
        var (_, visible) = await server.Client.GetMetricsAsync(BenchContext.ResourceGroup, execution, cancellationToken);
        if (visible != 0)
        {
            throw new BenchCheckException($"{visible} points were still readable right after the DELETE answered.");
        }

        await server.Client.WaitForDeletionJobsAsync(TimeSpan.FromMinutes(8), cancellationToken);
        var reclaimed = Stopwatch.GetElapsedTime(started);
        var left = await server.Store.CountMetricPointsAsync(cancellationToken);
        if (left != 0)
        {
            throw new BenchCheckException($"{left} metric points were left after the deletion job finished.");
        }

        result.Add("DELETE → 200", toAnswer.TotalMilliseconds, "ms", Targets.ScheduleDelete);
        result.Add("DELETE → all points reclaimed", reclaimed.TotalMilliseconds, "ms");
        result.Add("cascade rows/s", points / reclaimed.TotalSeconds, "rows/s", Targets.CascadeRows);
        result.AddPeakRss(server.Process.PeakRssBytes());
    }
}
