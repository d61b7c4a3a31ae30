using System.Diagnostics;
using System.Globalization;
using System.Net;
using Runledger.Bench.Harness;
using Runledger.Bench.Report;

namespace Runledger.Bench.Scenarios;

/// <summary>A project of 1,000 experiments × 1,000 events (half spans, half evaluation metrics), seeded straight into the store.</summary>
internal static class ExperimentWorkload
{
    public const string IdPrefix = "bench-exp-";

    public static async Task<string> SeedProjectAsync(
        BenchContext context, BenchServer server, HttpClient http, string scenario, string name, int experiments, int events, CancellationToken cancellationToken)
    {
        var project = await LlmObsApi.CreateProjectAsync(http, name, cancellationToken);
        var seed = Stopwatch.StartNew();
        await server.Store.SeedExperimentsAsync(project, $"{IdPrefix}{name}-", experiments, events, cancellationToken);
        context.Progress(scenario, $"seeded project {name}: {experiments:N0} experiments × {events:N0} events in {seed.Elapsed.TotalSeconds:0.0} s");
        return project;
    }

    public static string Ids(IEnumerable<string> ids) => string.Join(',', ids.Select(id => $"\"{id}\""));
}

/// <summary>
/// <c>POST /api/v2/llm-obs/v1/experiments/delete</c> with 10 ids per call on a project of 1,000
/// experiments × 1,000 events: time to the 204 (a soft delete: hidden at once). The reclaim waits
/// for the experiments' retention (Lifecycle:Grace:llm_experiment, 30 days by default), so it is
/// measured only when the bench server is started with that grace at zero.
/// </summary>
internal sealed class ExperimentsDeleteScenario : IScenario
{
    public string Name => "experiments-delete";

    public string Description => "POST …/experiments/delete with 10 ids per call on a project of 1,000 experiments × 1,000 events: p50/p99 to 204 (reclaim with Lifecycle:Grace:llm_experiment=0)";

    public TimeSpan Budget => TimeSpan.FromMinutes(15);

    public async Task RunAsync(BenchContext context, ScenarioResult result, CancellationToken cancellationToken)
    {
        var experiments = context.Size(1_000, 20);
        var events = context.Size(1_000, 10);
        var idsPerCall = context.Size(10, 2);
        var calls = context.Size(90, 5);
        var warmup = context.Size(5, 2);
        var reclaimAtOnce = context.ServerSettings.TryGetValue("Lifecycle:Grace:llm_experiment", out var grace)
            && TimeSpan.TryParse(grace, CultureInfo.InvariantCulture, out var span) && span == TimeSpan.Zero && context.WorkerEnabled;
        result.Parameter("experiments × events", $"{experiments:N0} × {events:N0}");
        result.Parameter("delete calls", $"{calls} × {idsPerCall} ids");
        result.Parameter("warm-up", warmup);
        result.Parameter("client", "1, sequential");
        result.Parameter("reclaim", reclaimAtOnce
            ? "measured (Lifecycle:Grace:llm_experiment=0: purged at once, not the product default)"
            : "not measured: soft-deleted experiments are kept for their retention (30 days by default); run with --server-setting Lifecycle:Grace:llm_experiment=00:00:00 to measure it");

        await using var server = await context.StartServerAsync(cancellationToken);
        using var http = LlmObsApi.NewClient(server.Process.BaseAddress);
        var name = "bench";
        var project = await ExperimentWorkload.SeedProjectAsync(context, server, http, Name, name, experiments, events, cancellationToken);
        var batches = Workload.DistinctNumbers(experiments, (warmup + calls) * idsPerCall)
            .Select(i => $"{ExperimentWorkload.IdPrefix}{name}-{i}")
            .Chunk(idsPerCall)
            .Select(ids => """{"data":{"type":"experiments","attributes":{"experiment_ids":[""" + ExperimentWorkload.Ids(ids) + "]}}}")
            .ToList();

        foreach (var body in batches.Take(warmup))
        {
            await LlmObsApi.SendAsync(http, HttpMethod.Post, $"{LlmObsApi.V1}/experiments/delete", body, HttpStatusCode.NoContent, cancellationToken);
        }

        if (reclaimAtOnce)
        {
            await server.Client.WaitForDeletionJobsAsync(TimeSpan.FromMinutes(5), cancellationToken);
        }

        var samples = new List<TimeSpan>(calls);
        var started = Stopwatch.GetTimestamp();
        foreach (var body in batches.Skip(warmup))
        {
            samples.Add(await LlmObsApi.SendAsync(http, HttpMethod.Post, $"{LlmObsApi.V1}/experiments/delete", body, HttpStatusCode.NoContent, cancellationToken));
        }

        var deleted = (warmup + calls) * idsPerCall;
        var counts = await server.Store.CountExperimentsAsync(project, cancellationToken);
        result.AddLatency($"experiments/delete ({idsPerCall} ids) → 204", Latency.Of(samples), Targets.ScheduleDeleteP99);
        if (reclaimAtOnce)
        {
            var drain = await server.Client.WaitForDeletionJobsAsync(TimeSpan.FromMinutes(10), cancellationToken);
            var total = Stopwatch.GetElapsedTime(started);
            counts = await server.Store.CountExperimentsAsync(project, cancellationToken);
            if (counts.Live != experiments - deleted || counts.Deleting != 0 || counts.Events != counts.Live * events)
            {
                throw new BenchCheckException($"After the purge: {counts}; expected {experiments - deleted} live experiments, none marked, {(experiments - deleted) * (long)events} events.");
            }

            var rows = (long)calls * idsPerCall * (events + 1);
            result.Add("last 204 → all reclaimed", drain.TotalMilliseconds, "ms");
            result.Add("cascade rows/s (first measured call → all reclaimed)", rows / total.TotalSeconds, "rows/s", Targets.CascadeRows);
        }
        else if (counts.Live != experiments - deleted || counts.Deleting != deleted || counts.Events != (long)experiments * events)
        {
            throw new BenchCheckException($"After the soft deletes: {counts}; expected {experiments - deleted} live, {deleted} marked, all {(long)experiments * events} events kept.");
        }

        result.AddPeakRss(server.Process.PeakRssBytes());
    }
}

/// <summary>
/// <c>POST /api/v2/llm-obs/v1/projects/delete</c> of whole projects of 1,000 experiments × 1,000
/// events, five of them in one store, deleted one after another: time to each 204 and until each
/// cascade has reclaimed every event, experiment and the project row (a project has no grace by
/// default). Five samples instead of one: a single time to 204 moved by several ms between runs.
/// </summary>
internal sealed class ProjectsDeleteScenario : IScenario
{
    public string Name => "projects-delete";

    public string Description => "POST …/projects/delete of 5 projects of 1,000 experiments × 1,000 events, one after another: time to 204, time until reclaimed, rows/s";

    public TimeSpan Budget => TimeSpan.FromMinutes(15);

    public async Task RunAsync(BenchContext context, ScenarioResult result, CancellationToken cancellationToken)
    {
        var experiments = context.Size(1_000, 20);
        var events = context.Size(1_000, 10);
        var projects = context.Size(5, 2);
        result.Parameter("projects", projects);
        result.Parameter("experiments × events", $"{experiments:N0} × {events:N0}");

        await using var server = await context.StartServerAsync(cancellationToken);
        if (!context.WorkerEnabled)
        {
            throw new BenchCheckException("This scenario measures the cascade; it cannot run with Lifecycle:WorkerEnabled=false.");
        }

        using var http = LlmObsApi.NewClient(server.Process.BaseAddress);
        // Two warm-up projects of a fifth of the size, seeded first and deleted last (below).
        var warmups = new List<string>();
        var warmExperiments = Math.Max(1, experiments / 5);
        for (var w = 0; w < 2; w++)
        {
            warmups.Add(await ExperimentWorkload.SeedProjectAsync(context, server, http, Name, $"warm{w}", warmExperiments, events, cancellationToken));
        }

        // Every project is in the store before the first delete: each later one is scheduled and
        // cascaded beside the data of the others.
        var seeded = new List<string>(projects);
        var warmEvents = 2L * warmExperiments * events;
        for (var p = 0; p < projects; p++)
        {
            var project = await ExperimentWorkload.SeedProjectAsync(context, server, http, Name, $"bench{p}", experiments, events, cancellationToken);
            // The event count is the whole store's: this project's, those seeded before it and the warm-ups'.
            var before = await server.Store.CountExperimentsAsync(project, cancellationToken);
            if (before != new ExperimentCounts(experiments, 0, warmEvents + ((p + 1L) * experiments * events), 1))
            {
                throw new BenchCheckException($"After seeding project {p + 1} of {projects} the store holds {before}; expected {experiments} experiments of it and {warmEvents + ((p + 1L) * experiments * events)} events in all.");
            }

            seeded.Add(project);
        }

        // Warm-up (not counted), right before the measured deletes: the same delete of the two
        // warm-up projects, each reclaimed before the next, then the job polls for 3 s more. With one
        // small project (10 × 10) deleted before the seeding, the first measured cascades ran ≈ 30%
        // slower: the JIT compiled ≈ 575 methods of request handling, the admin API and the worker
        // (a third of the server's samples in a profile) on the two cores beside the idle-priority
        // worker, even when the same requests had been served before the seeding's quiet seconds.
        foreach (var warm in warmups)
        {
            await DeleteAsync(http, warm, cancellationToken);
            await server.Client.WaitForDeletionJobsAsync(TimeSpan.FromMinutes(5), cancellationToken);
        }

        var polling = Stopwatch.StartNew();
        while (polling.Elapsed < TimeSpan.FromSeconds(context.Size(3, 0.1)))
        {
            await server.Client.WaitForDeletionJobsAsync(TimeSpan.FromMinutes(1), cancellationToken);
            await Task.Delay(20, cancellationToken);
        }

        var rows = (long)experiments * events + experiments + 1;
        var toNoContent = new List<TimeSpan>(projects);
        var reclaimed = new List<TimeSpan>(projects);
        foreach (var project in seeded)
        {
            var started = Stopwatch.GetTimestamp();
            toNoContent.Add(await DeleteAsync(http, project, cancellationToken));
            await server.Client.WaitForDeletionJobsAsync(TimeSpan.FromMinutes(10), cancellationToken);
            reclaimed.Add(Stopwatch.GetElapsedTime(started));
            context.Progress(Name, $"project {reclaimed.Count} of {projects}: reclaimed in {reclaimed[^1].TotalSeconds:0.00} s ({rows / reclaimed[^1].TotalSeconds:N0} rows/s)");
            var after = await server.Store.CountExperimentsAsync(project, cancellationToken);
            var othersEvents = (long)(projects - reclaimed.Count) * experiments * events;
            if (after != new ExperimentCounts(0, 0, othersEvents, 0))
            {
                throw new BenchCheckException($"After the project's deletion job finished the store holds {after}; expected nothing of it and the {othersEvents} events of the projects not yet deleted.");
            }
        }

        var rates = reclaimed.Select(t => rows / t.TotalSeconds).Order().ToList();
        var schedule = Latency.Of(toNoContent);
        result.Add($"projects/delete → 204, median of {projects}", schedule.P50, "ms");
        result.Add($"projects/delete → 204, max of {projects}", schedule.Max, "ms", Targets.ScheduleDelete);
        result.Add("projects/delete → all reclaimed, median", Latency.Of(reclaimed).P50, "ms");
        result.Add($"cascade rows/s ({rows:N0} rows a project), median", rates[rates.Count / 2], "rows/s", Targets.CascadeRows);
        result.Add("cascade rows/s, slowest project", rates[0], "rows/s");
        result.AddPeakRss(server.Process.PeakRssBytes());
    }

    private static Task<TimeSpan> DeleteAsync(HttpClient http, string project, CancellationToken cancellationToken) =>
        LlmObsApi.SendAsync(http, HttpMethod.Post, $"{LlmObsApi.V1}/projects/delete", """{"data":{"type":"projects","attributes":{"project_ids":[""" + LlmObsApi.Json(project) + "]}}}", HttpStatusCode.NoContent, cancellationToken);
}
