using System.Net;
using System.Text.Json.Nodes;
using Dapper;
using Microsoft.Extensions.Time.Testing;
using Runledger.Api.Tests.Support;
using Runledger.Server.Lifecycle;
using Runledger.Storage;
using Runledger.Storage.Credentials;

namespace Runledger.Api.Tests;

/// <summary>
/// A server on a fake clock with one day of grace for LLM Obs projects and datasets, whose
/// deletion worker and retention loop run only when a test says so.
/// </summary>
public abstract class LlmObsLifecycleServer(Provider provider) : IAsyncLifetime
{
    public static readonly TimeSpan Grace = TimeSpan.FromDays(1);

    private TestServer? _server;

    public TestServer Server => _server ?? throw new InvalidOperationException("The server has not started.");

    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.Parse("2026-11-23T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(
        provider,
        new Dictionary<string, string?>
        {
            ["Lifecycle:WorkerEnabled"] = "false",
            ["Retention:Enabled"] = "false",
            ["Lifecycle:Grace:llm_project"] = "1.00:00:00",
            ["Lifecycle:Grace:llm_dataset"] = "1.00:00:00",
        },
        services => services.AddSingleton<TimeProvider>(Clock));

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    /// <summary>Works every due job to its end; returns how many were worked.</summary>
    public async Task<int> RunWorkerAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var worker = Server.Service<DeletionWorker>();
        var count = 0;
        while (await worker.RunOnceAsync(timeout.Token))
        {
            count++;
        }

        return count;
    }
}

public sealed class SqliteLlmObsLifecycleServer() : LlmObsLifecycleServer(Provider.Sqlite);

public sealed class PostgresLlmObsLifecycleServer() : LlmObsLifecycleServer(Provider.Postgres);

/// <summary>Legal hold, grace and restore, dry-run and retention for LLM Obs projects, datasets and experiments.</summary>
public abstract class LlmObsLifecycleTests(LlmObsLifecycleServer fixture)
{
    private const string V1 = LlmObs.V1;
    private const string Org = "default";
    private const string Experiments = V1 + "/experiments";

    private TestServer Server => fixture.Server;

    private HttpClient Client => Server.Datadog;

    private Task<HttpResponseMessage> HoldAsync(string kind, string id) =>
        Server.Admin.PutAsync($"/runledger/v1/holds/{kind}/{id}?scope={Org}", Http.Json("""{"reason":"case 4711"}"""));

    private async Task ClearAsync(string kind, string id) =>
        await (await Server.Admin.DeleteAsync($"/runledger/v1/holds/{kind}/{id}")).ExpectAsync(HttpStatusCode.NoContent);

    private static string HoldDetail(string targetKind, string targetId, string holdKind, string holdId) =>
        (holdKind == targetKind && holdId == targetId
            ? $"The {targetKind} '{targetId}' is under legal hold"
            : $"The {targetKind} '{targetId}' cannot be deleted: the {holdKind} '{holdId}' is under legal hold")
        + $" (reason: case 4711); clear the hold with DELETE /runledger/v1/holds/{holdKind}/{holdId} before deleting.";

    private static async Task ExpectHeldAsync(HttpResponseMessage response, string detail)
    {
        Http.AssertJson(LlmObsErrors.Body(403, "Forbidden", detail, "LegalHold"), await response.ExpectAsync(HttpStatusCode.Forbidden), response.RequestId());
        Assert.False(response.Headers.Contains("Runledger-Deletion-Job"));
    }

    private async Task<List<string>> RefusalsAsync(string kind, string id)
    {
        var audit = await (await Server.Admin.GetAsync($"/runledger/v1/audit?targetKind={kind}&targetId={id}")).ExpectAsync(HttpStatusCode.OK);
        return audit["entries"]!.AsArray().Where(e => (string?)e!["action"] == "deletion.refused").Select(e => (string)e!["detail"]!).ToList();
    }

    private async Task<List<string>> ProjectIdsAsync(HttpClient? client = null, params string[] ids)
    {
        var found = new List<string>();
        foreach (var id in ids)
        {
            var body = await (await (client ?? Client).GetAsync($"{V1}/projects?filter[id]={id}")).OkAsync();
            found.AddRange(body["data"]!.AsArray().Select(p => (string)p!["id"]!));
        }

        return found;
    }

    private async Task<List<string>> DatasetIdsAsync(string project, HttpClient? client = null)
    {
        var body = await (await (client ?? Client).GetAsync($"{V1}/{project}/datasets")).OkAsync();
        return body["data"]!.AsArray().Select(d => (string)d!["id"]!).Order(StringComparer.Ordinal).ToList();
    }

    private async Task<List<string>> ExperimentIdsAsync(string project, string extra = "", HttpClient? client = null)
    {
        var body = await (await (client ?? Client).GetAsync($"{Experiments}?filter[project_id]={project}{extra}")).OkAsync();
        return body["data"]!.AsArray().Select(e => (string)e!["id"]!).Order(StringComparer.Ordinal).ToList();
    }

    private Task<long> CountAsync(string sql, object args) => Server.CountAsync(sql, args);

    /// <summary>What the store holds below a project, per table (datasets, versions, records, experiments, spans, metrics).</summary>
    private async Task<string> RowsAsync(string project)
    {
        await using var connection = await Server.Service<IDatabase>().OpenAsync(CancellationToken.None);
        var counts = await connection.QuerySingleAsync<(long, long, long, long, long, long, long)>(
            """
            SELECT (SELECT COUNT(*) FROM llm_projects WHERE id = @project),
                   (SELECT COUNT(*) FROM llm_datasets WHERE project_id = @project),
                   (SELECT COUNT(*) FROM llm_dataset_versions WHERE dataset_id IN (SELECT id FROM llm_datasets WHERE project_id = @project)),
                   (SELECT COUNT(*) FROM llm_records WHERE dataset_id IN (SELECT id FROM llm_datasets WHERE project_id = @project)),
                   (SELECT COUNT(*) FROM llm_experiments WHERE project_id = @project),
                   (SELECT COUNT(*) FROM llm_experiment_spans WHERE experiment_id IN (SELECT id FROM llm_experiments WHERE project_id = @project)),
                   (SELECT COUNT(*) FROM llm_experiment_metrics WHERE experiment_id IN (SELECT id FROM llm_experiments WHERE project_id = @project))
            """,
            new { project });
        return $"projects={counts.Item1} datasets={counts.Item2} versions={counts.Item3} records={counts.Item4} experiments={counts.Item5} spans={counts.Item6} metrics={counts.Item7}";
    }

    /// <summary>
    /// A project with two datasets — the first at version 3 (append 3 → v1, delete one → v2, append 1 → v3),
    /// the second at version 1 — and an experiment on the first dataset's version 2 with 3 spans and metrics.
    /// </summary>
    private async Task<(string Project, string Dataset, string Other, string Experiment, List<string> Records)> SeedAsync()
    {
        var project = await Client.NewProjectAsync();
        var dataset = await Client.NewDatasetAsync(project);
        var records = await Client.AppendAsync(project, dataset, 3);
        await (await Client.PostAsync($"{V1}/{project}/datasets/{dataset}/records/delete", LlmObs.Delete("records", "record_ids", records[0]))).ExpectAsync(HttpStatusCode.NoContent);
        records.AddRange(await Client.AppendAsync(project, dataset, 1, "late"));
        var other = await Client.NewDatasetAsync(project);
        await Client.AppendAsync(project, other, 2, "other");
        var experiment = await ExperimentTests.ExperimentAsync(Client, project, "seeded", new JsonObject { ["dataset_id"] = dataset, ["dataset_version"] = 2 });
        await (await Client.PostAsync($"{Experiments}/{experiment}/events", EventTests.Push(project, 3))).ExpectAsync(HttpStatusCode.Accepted);
        return (project, dataset, other, experiment, records);
    }

    /// <summary>Everything the API shows of a project: its datasets, each version's records, its experiments and their events.</summary>
    private async Task<string> SnapshotAsync(string project, params string[] datasets)
    {
        var snapshot = new JsonObject
        {
            ["project"] = await GetAsync($"{V1}/projects?filter[id]={project}"),
            ["datasets"] = await GetAsync($"{V1}/{project}/datasets"),
            ["experiments"] = await GetAsync($"{Experiments}?filter[project_id]={project}"),
        };
        foreach (var dataset in datasets)
        {
            snapshot[$"{dataset}/versions"] = await GetAsync($"{V1}/{project}/datasets/{dataset}/versions");
            foreach (var version in await VersionsAsync(project, dataset))
            {
                snapshot[$"{dataset}/v{version}"] = await GetAsync($"{V1}/{project}/datasets/{dataset}/records?filter[version]={version}");
            }

            snapshot[$"{dataset}/export"] = await GetAsync($"{V1}/{project}/datasets/{dataset}/export");
        }

        var experiments = (await (await Client.GetAsync($"{Experiments}?filter[project_id]={project}")).OkAsync())["data"]!.AsArray().Select(e => (string)e!["id"]!);
        foreach (var experiment in experiments)
        {
            snapshot[$"{experiment}/v1"] = await GetAsync($"/api/v2/llm-obs/v1/experiments/{experiment}/events");
            snapshot[$"{experiment}/v2"] = await GetAsync($"/api/v2/llm-obs/v2/experiments/{experiment}/events");
            snapshot[$"{experiment}/v3"] = await GetAsync($"/api/v2/llm-obs/v3/experiments/{experiment}/events");
        }

        return snapshot.ToJsonString();
    }

    private async Task<JsonNode> GetAsync(string path)
    {
        var response = await Client.GetAsync(path);
        return new JsonObject { ["status"] = (int)response.StatusCode, ["body"] = await response.Content.ReadAsStringAsync() };
    }

    private static string Counts(JsonNode counts) =>
        string.Join(' ', counts.AsObject().OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={(long)p.Value!}"));

    // ---- 1. Legal hold -------------------------------------------------------------------------

    [Fact]
    public async Task Hold_Project_ProjectAndDatasetDeletes403NamingTheHold_WholeRequestRefused_Audited()
    {
        var (project, dataset, _, _, _) = await SeedAsync();
        var free = await Client.NewProjectAsync();
        var rows = await RowsAsync(project);
        await (await HoldAsync("llm_project", project)).ExpectAsync(HttpStatusCode.Created);

        var direct = await Client.PostAsync($"{V1}/projects/delete", LlmObs.Delete("projects", "project_ids", project));
        await ExpectHeldAsync(direct, HoldDetail("llm_project", project, "llm_project", project));

        // In bulk beside a free project: refused as a whole, the free one stays too.
        var bulk = await Client.PostAsync($"{V1}/projects/delete", LlmObs.Delete("projects", "project_ids", free, project));
        await ExpectHeldAsync(bulk, HoldDetail("llm_project", project, "llm_project", project));
        Assert.Equal([project, free], await ProjectIdsAsync(null, project, free));

        var inside = await Client.PostAsync($"{V1}/{project}/datasets/delete", LlmObs.Delete("datasets", "dataset_ids", dataset));
        await ExpectHeldAsync(inside, HoldDetail("llm_dataset", dataset, "llm_project", project));

        Assert.Equal(rows, await RowsAsync(project));
        Assert.Equal(0, await CountAsync("SELECT COUNT(*) FROM deletion_jobs WHERE target_id IN (@project, @free, @dataset) AND kind <> 'llm_records'", new { project, free, dataset }));
        Assert.Equal(2, (await RefusalsAsync("llm_project", project)).Count);
        Assert.Equal([HoldDetail("llm_dataset", dataset, "llm_project", project)], await RefusalsAsync("llm_dataset", dataset));
        var preview = await (await Server.Admin.PostAsync("/runledger/v1/deletions/preview", Http.Json($$"""{"targets":[{"kind":"llm_project","id":"{{project}}","scope":"{{Org}}"}]}"""))).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(project, (string?)preview["targets"]![0]!["hold"]!["id"]);

        // Cleared: the delete goes through.
        await ClearAsync("llm_project", project);
        await (await Client.PostAsync($"{V1}/projects/delete", LlmObs.Delete("projects", "project_ids", project))).ExpectAsync(HttpStatusCode.NoContent);
        Assert.Empty(await ProjectIdsAsync(null, project));
    }

    [Fact]
    public async Task Hold_Dataset_DatasetDeleteAndProjectDelete403_NothingChanges()
    {
        var (project, dataset, other, _, _) = await SeedAsync();
        var rows = await RowsAsync(project);
        await (await HoldAsync("llm_dataset", dataset)).ExpectAsync(HttpStatusCode.Created);

        var both = await Client.PostAsync($"{V1}/{project}/datasets/delete", LlmObs.Delete("datasets", "dataset_ids", other, dataset));
        await ExpectHeldAsync(both, HoldDetail("llm_dataset", dataset, "llm_dataset", dataset));
        var whole = await Client.PostAsync($"{V1}/projects/delete", LlmObs.Delete("projects", "project_ids", project));
        await ExpectHeldAsync(whole, HoldDetail("llm_project", project, "llm_dataset", dataset));

        Assert.Equal(new[] { dataset, other }.Order(StringComparer.Ordinal), await DatasetIdsAsync(project));
        Assert.Equal([project], await ProjectIdsAsync(null, project));
        Assert.Equal(rows, await RowsAsync(project));
        Assert.Single(await RefusalsAsync("llm_project", project));
        Assert.Single(await RefusalsAsync("llm_dataset", dataset));
        Assert.Empty(await RefusalsAsync("llm_dataset", other));

        // The other dataset alone is free to go.
        await ClearAsync("llm_dataset", dataset);
        await (await Client.PostAsync($"{V1}/{project}/datasets/delete", LlmObs.Delete("datasets", "dataset_ids", other))).ExpectAsync(HttpStatusCode.NoContent);
        Assert.Equal([dataset], await DatasetIdsAsync(project));
    }

    [Fact]
    public async Task Hold_ExperimentInHeldProject_403AndNoneOfTheRequestsExperimentsDeleted()
    {
        var held = await Client.NewProjectAsync();
        var free = await Client.NewProjectAsync();
        var inHeld = await ExperimentTests.ExperimentAsync(Client, held, "in-held");
        var inFree = await ExperimentTests.ExperimentAsync(Client, free, "in-free");
        await (await HoldAsync("llm_project", held)).ExpectAsync(HttpStatusCode.Created);

        var response = await Client.PostAsync($"{Experiments}/delete", Http.JsonApi("experiments", new JsonObject { ["experiment_ids"] = new JsonArray(inFree, inHeld) }));
        await ExpectHeldAsync(response, HoldDetail("llm_experiment", inHeld, "llm_project", held));
        Assert.Equal([inHeld], await ExperimentIdsAsync(held));
        Assert.Equal([inFree], await ExperimentIdsAsync(free));
        Assert.Equal(0, await CountAsync("SELECT COUNT(*) FROM deletion_jobs WHERE target_id IN (@inHeld, @inFree) AND kind <> 'llm_records'", new { inHeld, inFree }));
        Assert.Single(await RefusalsAsync("llm_experiment", inHeld));
        await ClearAsync("llm_project", held);
    }

    // ---- 2. Restore and preview ------------------------------------------------------------------

    [Fact]
    public async Task Restore_ProjectWithinGrace_DatasetsRecordsExperimentsEventsBackExactly_NameReservedMeanwhile()
    {
        var (project, dataset, other, _, _) = await SeedAsync();
        var name = (string)(await (await Client.GetAsync($"{V1}/projects?filter[id]={project}")).OkAsync())["data"]![0]!["attributes"]!["name"]!;
        var before = await SnapshotAsync(project, dataset, other);
        var rows = await RowsAsync(project);

        var response = await Client.PostAsync($"{V1}/projects/delete", LlmObs.Delete("projects", "project_ids", project));
        await response.ExpectAsync(HttpStatusCode.NoContent);
        Assert.Empty(await ProjectIdsAsync(null, project));
        await (await Client.GetAsync($"{V1}/{project}/datasets")).ExpectAsync(HttpStatusCode.NotFound);

        // The name stays reserved while the deletion can be undone.
        var reuse = await Client.PostAsync($"{V1}/projects", Http.JsonApi("projects", new JsonObject { ["name"] = name }));
        Http.AssertJson(
            LlmObsErrors.Body(400, "Bad Request", $"A project named '{name}' is being deleted; its name stays reserved until the deletion ends (or it is restored); choose another name.", "InvalidRequest", pointer: "/data/attributes/name"),
            await reuse.ExpectAsync(HttpStatusCode.BadRequest), reuse.RequestId());

        fixture.Clock.Advance(LlmObsLifecycleServer.Grace - TimeSpan.FromMinutes(1));
        await fixture.RunWorkerAsync();
        Assert.Equal(rows, await RowsAsync(project));
        var restored = await (await Server.Admin.PostAsync($"/runledger/v1/deletions/{response.JobId()}/restore", null)).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("restored", (string?)restored["state"]);
        Assert.Equal(before, await SnapshotAsync(project, dataset, other));
        Assert.Equal(rows, await RowsAsync(project));

        // Never purged afterwards.
        fixture.Clock.Advance(TimeSpan.FromDays(2));
        await fixture.RunWorkerAsync();
        Assert.Equal(before, await SnapshotAsync(project, dataset, other));
    }

    [Fact]
    public async Task Restore_DatasetWithinGrace_RecordsOfEveryVersionBack_NameReserved_AfterGracePurgedAndNameFree()
    {
        var (project, dataset, other, _, _) = await SeedAsync();
        var datasetName = (string)(await (await Client.GetAsync($"{V1}/{project}/datasets?filter[id]={dataset}")).OkAsync())["data"]![0]!["attributes"]!["name"]!;
        var before = await SnapshotAsync(project, dataset, other);
        var rows = await RowsAsync(project);

        var response = await Client.PostAsync($"{V1}/{project}/datasets/delete", LlmObs.Delete("datasets", "dataset_ids", dataset));
        await response.ExpectAsync(HttpStatusCode.NoContent);
        Assert.Equal([other], await DatasetIdsAsync(project));
        var reuse = await Client.PostAsync($"{V1}/{project}/datasets", Http.JsonApi("datasets", new JsonObject { ["name"] = datasetName }));
        await reuse.ExpectAsync(HttpStatusCode.BadRequest);

        fixture.Clock.Advance(TimeSpan.FromHours(23));
        await fixture.RunWorkerAsync();
        await (await Server.Admin.PostAsync($"/runledger/v1/deletions/{response.JobId()}/restore", null)).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(before, await SnapshotAsync(project, dataset, other));
        Assert.Equal(rows, await RowsAsync(project));

        // Deleted again and left past grace: restore is refused, the dataset purged, its name free.
        var again = await Client.PostAsync($"{V1}/{project}/datasets/delete", LlmObs.Delete("datasets", "dataset_ids", dataset));
        await again.ExpectAsync(HttpStatusCode.NoContent);
        fixture.Clock.Advance(LlmObsLifecycleServer.Grace);
        var late = await (await Server.Admin.PostAsync($"/runledger/v1/deletions/{again.JobId()}/restore", null)).ExpectAsync(HttpStatusCode.Conflict);
        Assert.Equal("GraceEnded", (string?)late["code"]);
        await fixture.RunWorkerAsync();
        Assert.Equal(0, await CountAsync("SELECT COUNT(*) FROM llm_records WHERE dataset_id = @dataset", new { dataset }));
        Assert.Equal(0, await CountAsync("SELECT COUNT(*) FROM llm_datasets WHERE id = @dataset", new { dataset }));
        await (await Client.PostAsync($"{V1}/{project}/datasets", Http.JsonApi("datasets", new JsonObject { ["name"] = datasetName }))).ExpectAsync(HttpStatusCode.Created);
    }

    [Fact]
    public async Task Preview_ProjectAndDataset_UnknownFoundFalse_CountsEqualWhatTheDeleteRemoves()
    {
        var (project, dataset, _, _, _) = await SeedAsync();
        var (otherProject, otherDataset, _, _, _) = await SeedAsync();
        var rows = await RowsAsync(project);
        var preview = await (await Server.Admin.PostAsync("/runledger/v1/deletions/preview", Http.Json($$"""
            {"targets":[{"kind":"llm_project","id":"{{project}}","scope":"{{Org}}"},{"kind":"llm_dataset","id":"{{otherDataset}}","scope":"{{Org}}"},
                        {"kind":"llm_project","id":"no-such-project","scope":"{{Org}}"},{"kind":"llm_dataset","id":"{{dataset}}","scope":"other-org"}]}
            """))).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(rows, await RowsAsync(project));
        var targets = preview["targets"]!.AsArray();
        Assert.Equal([true, true, false, false], targets.Select(t => (bool)t!["found"]!));
        Assert.True((bool)targets[0]!["restorable"]!);
        Assert.Equal(
            "llm_dataset_versions=6 llm_datasets=2 llm_experiment_metrics=3 llm_experiment_spans=3 llm_experiments=1 llm_project=1 llm_records=6",
            Counts(targets[0]!["rows"]!));
        Assert.Equal("llm_dataset=1 llm_dataset_versions=4 llm_records=4", Counts(targets[1]!["rows"]!));

        var projectJob = (await Client.PostAsync($"{V1}/projects/delete", LlmObs.Delete("projects", "project_ids", project))).JobId();
        var datasetJob = (await Client.PostAsync($"{V1}/{otherProject}/datasets/delete", LlmObs.Delete("datasets", "dataset_ids", otherDataset))).JobId();
        fixture.Clock.Advance(LlmObsLifecycleServer.Grace);
        await fixture.RunWorkerAsync();
        var job = await (await Server.Admin.GetAsync($"/runledger/v1/deletions/{projectJob}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("done", (string?)job["state"]);
        Assert.Equal(Counts(targets[0]!["rows"]!), Counts(job["removed"]!));
        job = await (await Server.Admin.GetAsync($"/runledger/v1/deletions/{datasetJob}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(Counts(targets[1]!["rows"]!), Counts(job["removed"]!));
        Assert.Equal("projects=0 datasets=0 versions=0 records=0 experiments=0 spans=0 metrics=0", await RowsAsync(project));
    }

    // ---- 4. Retention policies of a project ------------------------------------------------------

    private Task<HttpResponseMessage> PutPolicyAsync(string project, string policy, long days) =>
        Server.Admin.PutAsync($"/runledger/v1/retention/llm_project/{project}/{policy}?scope={Org}", Http.Json($$"""{"days":{{days}}}"""));

    private async Task<JsonNode> RunRetentionAsync(bool dryRun, string project, string policy)
    {
        var run = await (await Server.Admin.PostAsync($"/runledger/v1/retention/run?dryRun={(dryRun ? "true" : "false")}", null)).ExpectAsync(HttpStatusCode.OK);
        return run["results"]!.AsArray().Single(r => (string?)r!["scopeId"] == project && (string?)r["policy"] == policy)!;
    }

    private static List<string> Targets(JsonNode outcome) => outcome["targets"]!.AsArray().Select(t => (string)t!["id"]!).Order(StringComparer.Ordinal).ToList();

    private async Task<List<long>> VersionsAsync(string project, string dataset)
    {
        var body = await (await Client.GetAsync($"{V1}/{project}/datasets/{dataset}/versions")).OkAsync();
        return body["data"]!.AsArray().Select(v => (long)v!["attributes"]!["version_number"]!).Order().ToList();
    }

    private async Task<List<string>> RecordIdsAsync(string project, string dataset, long? version = null)
    {
        var body = await (await Client.GetAsync($"{V1}/{project}/datasets/{dataset}/records" + (version is null ? "" : $"?filter[version]={version}"))).OkAsync();
        return body["data"]!.AsArray().Select(r => (string)r!["id"]!).Order(StringComparer.Ordinal).ToList();
    }

    private static readonly string[] ExpectedVersionRemovals =
        ["dataset llm_dataset_versions=2 llm_dataset_versions_expired=0 llm_records=1", "other llm_dataset_versions=1 llm_dataset_versions_expired=0 llm_records=0"];

    [Fact]
    public async Task Retention_DatasetVersions_UnusedOnesGoWithRecordsLiveOnlyInThem_NeverCurrentOrReferenced()
    {
        // dataset: v1 = {r0, r1, r2}, v2 = {r1, r2} (experiment on v2), v3 = {r1, r2, late0} (current).
        var (project, dataset, other, experiment, records) = await SeedAsync();

        // An experiment on v1 that is then soft-deleted does not keep v1 alive.
        var onV1 = await ExperimentTests.ExperimentAsync(Client, project, "on-v1", new JsonObject { ["dataset_id"] = dataset, ["dataset_version"] = 1 });
        await (await Client.PostAsync($"{Experiments}/delete", Http.JsonApi("experiments", new JsonObject { ["experiment_ids"] = new JsonArray(onV1) }))).ExpectAsync(HttpStatusCode.NoContent);
        await (await PutPolicyAsync(project, "dataset_versions", 7)).ExpectAsync(HttpStatusCode.Created);

        // Nothing is old enough yet.
        Assert.Empty(Targets(await RunRetentionAsync(dryRun: true, project, "dataset_versions")));
        fixture.Clock.Advance(TimeSpan.FromDays(8));
        var rows = await RowsAsync(project);
        var dry = await RunRetentionAsync(dryRun: true, project, "dataset_versions");
        Assert.Equal(new[] { dataset, other }.Order(StringComparer.Ordinal), Targets(dry));
        Assert.Empty(dry["jobs"]!.AsArray());
        Assert.Equal(rows, await RowsAsync(project));

        var run = await RunRetentionAsync(dryRun: false, project, "dataset_versions");
        Assert.Equal(Targets(dry), Targets(run));
        var jobs = run["jobs"]!.AsArray().Select(j => (string)j!).ToList();
        Assert.Equal(2, jobs.Count);
        await fixture.RunWorkerAsync();
        var removed = new List<string>();
        foreach (var jobId in jobs)
        {
            var job = await (await Server.Admin.GetAsync($"/runledger/v1/deletions/{jobId}")).ExpectAsync(HttpStatusCode.OK);
            Assert.Equal("done", (string?)job["state"]);
            Assert.Equal("llm_dataset_versions_expired", (string?)job["kind"]);
            Assert.Equal("retention", (string?)job["requestedBy"]);
            removed.Add((string)job["targetId"]! == dataset ? "dataset " + Counts(job["removed"]!) : "other " + Counts(job["removed"]!));
            var audit = await (await Server.Admin.GetAsync($"/runledger/v1/audit?jobId={jobId}")).ExpectAsync(HttpStatusCode.OK);
            Assert.Contains(audit["entries"]!.AsArray(), e => (string?)e!["action"] == "deletion.requested");
        }

        // dataset: v0 and v1 go (v2 is referenced by a live experiment, v3 is current); r0 lived only in v1.
        // other: v0 goes (it held nothing), v1 is current.
        Assert.Equal(
            ExpectedVersionRemovals,
            removed.Order(StringComparer.Ordinal));
        Assert.Equal([2L, 3L], await VersionsAsync(project, dataset));
        Assert.Equal([1L], await VersionsAsync(project, other));
        Assert.Equal(0, await CountAsync("SELECT COUNT(*) FROM llm_records WHERE dataset_id = @dataset AND id = @id", new { dataset, id = records[0] }));
        Assert.Equal(new[] { records[1], records[2] }.Order(StringComparer.Ordinal), await RecordIdsAsync(project, dataset, 2));
        Assert.Equal(new[] { records[1], records[2], records[3] }.Order(StringComparer.Ordinal), await RecordIdsAsync(project, dataset));
        Assert.Equal([experiment], await ExperimentIdsAsync(project));

        // A removed version is gone for readers: list and export answer 404 naming it, restore refuses it.
        var removedDetail = $"Version 1 of dataset '{dataset}' was removed by a retention policy; GET …/datasets/{dataset}/versions lists the versions that remain.";
        await (await Client.GetAsync($"{V1}/{project}/datasets/{dataset}/records?filter%5Bversion%5D=1")).ExpectErrorAsync(
            HttpStatusCode.NotFound, LlmObs.Error("404", "Not Found", removedDetail, "VersionNotFound", parameter: "filter[version]"));
        await (await Client.GetAsync($"{V1}/{project}/datasets/{dataset}/export?version=1")).ExpectErrorAsync(
            HttpStatusCode.NotFound, LlmObs.Error("404", "Not Found", removedDetail, "VersionNotFound", parameter: "version"));
        await (await Client.PostAsync($"{V1}/{project}/datasets/{dataset}/restore", Http.Json($$$$"""{"data":{"id":"{{{{dataset}}}}","type":"datasets","attributes":{"dataset_version":1}}}"""))).ExpectErrorAsync(
            HttpStatusCode.BadRequest, LlmObs.Error("400", "Bad Request", removedDetail, "InvalidRequest", jsonPointer: "/data/attributes/dataset_version"));
        Assert.Equal([2L, 3L], await VersionsAsync(project, dataset));

        // A removed version can no longer be referenced; a second run finds nothing more.
        var refused = await Client.PostAsync(Experiments, Http.JsonApi("experiments", new JsonObject { ["project_id"] = project, ["name"] = "late", ["dataset_id"] = dataset, ["dataset_version"] = 1 }));
        await refused.ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Empty(Targets(await RunRetentionAsync(dryRun: true, project, "dataset_versions")));
        await (await Server.Admin.DeleteAsync($"/runledger/v1/retention/llm_project/{project}/dataset_versions")).ExpectAsync(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task Retention_DatasetVersions_HeldDatasetRefused()
    {
        var (project, dataset, other, _, _) = await SeedAsync();
        await (await PutPolicyAsync(project, "dataset_versions", 7)).ExpectAsync(HttpStatusCode.Created);
        await (await HoldAsync("llm_dataset", dataset)).ExpectAsync(HttpStatusCode.Created);
        fixture.Clock.Advance(TimeSpan.FromDays(8));
        var rows = await RowsAsync(project);
        var run = await RunRetentionAsync(dryRun: false, project, "dataset_versions");
        Assert.Equal([HoldDetail("llm_dataset_versions_expired", dataset, "llm_dataset", dataset)], run["refused"]!.AsArray().Select(r => (string)r!));
        Assert.Single(run["jobs"]!.AsArray());
        await fixture.RunWorkerAsync();
        Assert.Equal([0L, 1L, 2L, 3L], await VersionsAsync(project, dataset));
        Assert.Equal([1L], await VersionsAsync(project, other));
        Assert.NotEqual(rows, await RowsAsync(project));
        await ClearAsync("llm_dataset", dataset);
        await (await Server.Admin.DeleteAsync($"/runledger/v1/retention/llm_project/{project}/dataset_versions")).ExpectAsync(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task Retention_DeletedExperiments_OlderThanDaysPurgedWithEventsBeforeGlobalRetention()
    {
        var project = await Client.NewProjectAsync();
        var old = await ExperimentTests.ExperimentAsync(Client, project, "old");
        var recent = await ExperimentTests.ExperimentAsync(Client, project, "recent");
        var live = await ExperimentTests.ExperimentAsync(Client, project, "live");
        await (await Client.PostAsync($"{Experiments}/{old}/events", EventTests.Push(project, 2))).ExpectAsync(HttpStatusCode.Accepted);
        await (await Client.PostAsync($"{Experiments}/{recent}/events", EventTests.Push(project, 1))).ExpectAsync(HttpStatusCode.Accepted);
        await (await Client.PostAsync($"{Experiments}/delete", Http.JsonApi("experiments", new JsonObject { ["experiment_ids"] = new JsonArray(old) }))).ExpectAsync(HttpStatusCode.NoContent);
        fixture.Clock.Advance(TimeSpan.FromDays(5));
        await (await Client.PostAsync($"{Experiments}/delete", Http.JsonApi("experiments", new JsonObject { ["experiment_ids"] = new JsonArray(recent) }))).ExpectAsync(HttpStatusCode.NoContent);
        await (await PutPolicyAsync(project, "deleted_experiments", 7)).ExpectAsync(HttpStatusCode.Created);
        Assert.Empty(Targets(await RunRetentionAsync(dryRun: true, project, "deleted_experiments")));

        fixture.Clock.Advance(TimeSpan.FromDays(3));
        var dry = await RunRetentionAsync(dryRun: true, project, "deleted_experiments");
        Assert.Equal([old], Targets(dry));
        Assert.Equal(1, await CountAsync("SELECT COUNT(*) FROM llm_experiments WHERE id = @old", new { old }));

        var run = await RunRetentionAsync(dryRun: false, project, "deleted_experiments");
        var jobId = (string)run["jobs"]!.AsArray().Single()!;
        await fixture.RunWorkerAsync();
        var job = await (await Server.Admin.GetAsync($"/runledger/v1/deletions/{jobId}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("done", (string?)job["state"]);
        Assert.Equal("llm_experiment_expired", (string?)job["kind"]);
        Assert.Equal("llm_experiment_expired=1 llm_experiment_metrics=2 llm_experiment_spans=2", Counts(job["removed"]!));
        Assert.Equal(0, await CountAsync("SELECT COUNT(*) FROM llm_experiments WHERE id = @old", new { old }));
        Assert.Equal(0, await CountAsync("SELECT COUNT(*) FROM llm_experiment_spans WHERE experiment_id = @old", new { old }));
        await (await Client.GetAsync($"/api/v2/llm-obs/v3/experiments/{old}/events")).ExpectAsync(HttpStatusCode.NotFound);
        Assert.Equal([recent], await ExperimentIdsAsync(project, "&filter[is_deleted]=true"));
        Assert.Equal(1, await CountAsync("SELECT COUNT(*) FROM llm_experiment_spans WHERE experiment_id = @recent", new { recent }));
        Assert.Equal([live], await ExperimentIdsAsync(project));
        Assert.Empty(Targets(await RunRetentionAsync(dryRun: true, project, "deleted_experiments")));
        await (await Server.Admin.DeleteAsync($"/runledger/v1/retention/llm_project/{project}/deleted_experiments")).ExpectAsync(HttpStatusCode.NoContent);
    }

    // ---- 6. Organisation isolation -------------------------------------------------------------

    [Fact]
    public async Task OtherOrganisation_CannotSeeOrDeleteProjectsDatasetsExperimentsOrEvents()
    {
        var (project, dataset, _, experiment, _) = await SeedAsync();
        var org = "isolated-" + Guid.NewGuid().ToString("N");
        using var stranger = Server.NewDatadogClient(
            await Server.AddCredentialAsync(CredentialKinds.DatadogApiKey, "", orgId: org),
            await Server.AddCredentialAsync(CredentialKinds.DatadogAppKey, "read write", orgId: org));
        var before = await SnapshotAsync(project, dataset);
        var rows = await RowsAsync(project);
        await (await HoldAsync("llm_project", project)).ExpectAsync(HttpStatusCode.Created);

        Assert.Empty((await (await stranger.GetAsync($"{V1}/projects")).OkAsync())["data"]!.AsArray());
        Assert.Empty(await ProjectIdsAsync(stranger, project));
        await (await stranger.GetAsync($"{V1}/{project}/datasets")).ExpectAsync(HttpStatusCode.NotFound);
        await (await stranger.GetAsync($"{V1}/{project}/datasets/{dataset}/records")).ExpectAsync(HttpStatusCode.NotFound);
        Assert.Empty(await ExperimentIdsAsync(project, client: stranger));
        foreach (var version in new[] { "v1", "v2", "v3" })
        {
            await (await stranger.GetAsync($"/api/v2/llm-obs/{version}/experiments/{experiment}/events")).ExpectAsync(HttpStatusCode.NotFound);
        }

        await (await stranger.PatchAsync($"{V1}/projects/{project}", Http.JsonApi("projects", new JsonObject { ["name"] = "taken-over" }))).ExpectAsync(HttpStatusCode.NotFound);
        await (await stranger.PatchAsync($"{Experiments}/{experiment}", Http.JsonApi("experiments", new JsonObject { ["name"] = "taken-over" }))).ExpectAsync(HttpStatusCode.NotFound);
        await (await stranger.PostAsync($"{Experiments}/{experiment}/events", EventTests.Push(project, 1, offset: 10))).ExpectAsync(HttpStatusCode.NotFound);
        await (await stranger.PostAsync($"{V1}/{project}/datasets/delete", LlmObs.Delete("datasets", "dataset_ids", dataset))).ExpectAsync(HttpStatusCode.NotFound);

        // Deletes of ids it cannot see are ignored (204) — not refused: the first organisation's hold is not revealed either.
        var projects = await stranger.PostAsync($"{V1}/projects/delete", LlmObs.Delete("projects", "project_ids", project));
        await projects.ExpectAsync(HttpStatusCode.NoContent);
        Assert.False(projects.Headers.Contains("Runledger-Deletion-Job"));
        var experiments = await stranger.PostAsync($"{Experiments}/delete", Http.JsonApi("experiments", new JsonObject { ["experiment_ids"] = new JsonArray(experiment) }));
        await experiments.ExpectAsync(HttpStatusCode.NoContent);
        Assert.False(experiments.Headers.Contains("Runledger-Deletion-Job"));
        await ClearAsync("llm_project", project);
        await (await stranger.PostAsync($"{V1}/projects/delete", LlmObs.Delete("projects", "project_ids", project))).ExpectAsync(HttpStatusCode.NoContent);

        // A project of the same name in the other organisation is its own.
        var name = (string)(await (await Client.GetAsync($"{V1}/projects?filter[id]={project}")).OkAsync())["data"]![0]!["attributes"]!["name"]!;
        var own = await (await stranger.PostAsync($"{V1}/projects", Http.JsonApi("projects", new JsonObject { ["name"] = name }))).ExpectAsync(HttpStatusCode.Created);
        Assert.NotEqual(project, (string?)own["data"]!["id"]);

        Assert.Equal(before, await SnapshotAsync(project, dataset));
        Assert.Equal(rows, await RowsAsync(project));
        Assert.Empty(await RefusalsAsync("llm_project", project));
    }

    // ---- 7. Read-only application key ----------------------------------------------------------

    [Fact]
    public async Task ReadOnlyKey_EveryProjectExperimentAndEventWrite403ExactBody_NothingChanges()
    {
        var (project, dataset, _, experiment, _) = await SeedAsync();
        var before = await SnapshotAsync(project, dataset);
        var rows = await RowsAsync(project);
        using var reader = Server.NewDatadogClient(TestCredentials.DatadogApiKey, await Server.AddCredentialAsync(CredentialKinds.DatadogAppKey, "read"));
        var name = "ro-" + Guid.NewGuid().ToString("N");
        var writes = new (string Route, Func<Task<HttpResponseMessage>> Send)[]
        {
            ("projects create", () => reader.PostAsync($"{V1}/projects", Http.JsonApi("projects", new JsonObject { ["name"] = name }))),
            ("projects update", () => reader.PatchAsync($"{V1}/projects/{project}", Http.JsonApi("projects", new JsonObject { ["name"] = name }))),
            ("projects delete", () => reader.PostAsync($"{V1}/projects/delete", LlmObs.Delete("projects", "project_ids", project))),
            ("experiments create", () => reader.PostAsync(Experiments, Http.JsonApi("experiments", new JsonObject { ["project_id"] = project, ["name"] = name }))),
            ("experiments update", () => reader.PatchAsync($"{Experiments}/{experiment}", Http.JsonApi("experiments", new JsonObject { ["name"] = name }))),
            ("experiments delete", () => reader.PostAsync($"{Experiments}/delete", Http.JsonApi("experiments", new JsonObject { ["experiment_ids"] = new JsonArray(experiment) }))),
            ("events push", () => reader.PostAsync($"{Experiments}/{experiment}/events", EventTests.Push(project, 1, offset: 10))),
        };
        foreach (var (route, send) in writes)
        {
            var response = await send();
            Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"{route}: {(int)response.StatusCode}");
            Http.AssertJson(
                """{"errors":[{"status":"403","title":"Forbidden","detail":"This application key does not have the 'write' scope this operation needs; use a key with 'write' scope.","source":{"header":"DD-APPLICATION-KEY"},"meta":{"code":"Forbidden","request_id":"{requestId}"}}]}""",
                await response.ExpectAsync(HttpStatusCode.Forbidden), response.RequestId());
            Assert.False(response.Headers.Contains("Runledger-Deletion-Job"));
        }

        Assert.Equal(before, await SnapshotAsync(project, dataset));
        Assert.Equal(rows, await RowsAsync(project));
        Assert.Empty((await (await Client.GetAsync($"{V1}/projects?filter[name]={name}")).OkAsync())["data"]!.AsArray());
        Assert.Equal(0, await CountAsync("SELECT COUNT(*) FROM deletion_jobs WHERE target_id IN (@project, @experiment)", new { project, experiment }));

        // The same bodies with the read-write key succeed: the refusals were the scope's alone.
        await (await Client.PatchAsync($"{V1}/projects/{project}", Http.JsonApi("projects", new JsonObject { ["name"] = name }))).ExpectAsync(HttpStatusCode.OK);
        await (await Client.PostAsync($"{Experiments}/{experiment}/events", EventTests.Push(project, 1, offset: 10))).ExpectAsync(HttpStatusCode.Accepted);
    }

    // ---- 5. Events v2 beyond SQLite's bound-parameter limit -------------------------------------

    [Fact]
    public async Task Events_V1AndV2_MoreSpansThanOneInListCanBind_AllWithTheirMetrics()
    {
        const int spans = 33_000;
        var project = await Client.NewProjectAsync();
        var experiment = await ExperimentTests.ExperimentAsync(Client, project, "large");

        // Seeded in the store (one statement each): 33,000 spans, one metric per span plus one summary metric.
        await using (var connection = await Server.Service<IDatabase>().OpenAsync(CancellationToken.None))
        {
            await connection.ExecuteAsync(
                $"""
                WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {spans - 1})
                INSERT INTO llm_experiment_spans (experiment_id, seq, id, span_id, trace_id, project_id, dataset_id, name, start_ns, duration, status, tags, meta)
                SELECT @experiment, i, 'id-' || i, 'span-' || i, 'trace-' || i, @project, 'dataset-1', 'llm_call', 1705314600000000000 + i, 1500000000, 'ok', '[]', NULL FROM n
                """,
                new { experiment, project });
            await connection.ExecuteAsync(
                $"""
                WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {spans})
                INSERT INTO llm_experiment_metrics (experiment_id, seq, id, span_id, metric_type, label, timestamp_ms, score_value, tags)
                SELECT @experiment, {spans} + i, 'm-' || i, CASE WHEN i = {spans} THEN 'experiment' ELSE 'span-' || i END, 'score', 'faithfulness', 1705314600000, 0.5, '[]' FROM n
                """,
                new { experiment });
            await connection.ExecuteAsync("UPDATE llm_experiments SET event_seq = @next WHERE id = @experiment", new { experiment, next = (2 * spans) + 1 });
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var v2 = await (await Client.GetAsync($"/api/v2/llm-obs/v2/experiments/{experiment}/events", timeout.Token)).OkAsync();
        var attributes = v2["data"]!["attributes"]!;
        Assert.Equal(experiment, (string?)v2["data"]!["id"]);
        Assert.Equal("experiment_events", (string?)v2["data"]!["type"]);
        var listed = attributes["spans"]!.AsArray();
        Assert.Equal(spans, listed.Count);
        Assert.Equal(Enumerable.Range(0, spans).Select(i => $"span-{i}"), listed.Select(s => (string)s!["span_id"]!));
        Assert.All(listed, s => Assert.Equal((string)s!["span_id"]!, (string?)s["eval_metrics"]!.AsArray().Single()!["span_id"]));
        Assert.Equal("experiment", (string?)attributes["summary_metrics"]!.AsArray().Single()!["span_id"]);
        Assert.Null(v2["meta"]);

        var v1 = await (await Client.GetAsync($"/api/v2/llm-obs/v1/experiments/{experiment}/events", timeout.Token)).OkAsync();
        var data = v1["data"]!.AsArray();
        Assert.Equal(spans, data.Count);
        Assert.Equal("experiments", (string?)data[0]!["type"]);
        Assert.Equal("span-32999", (string?)data[^1]!["attributes"]!["span_id"]);
        Assert.Single(data[^1]!["attributes"]!["eval_metrics"]!.AsArray());
    }
}

public sealed class LlmObsLifecycleTestsOnSqlite(SqliteLlmObsLifecycleServer fixture) : LlmObsLifecycleTests(fixture), IClassFixture<SqliteLlmObsLifecycleServer>;

public sealed class LlmObsLifecycleTestsOnPostgres(PostgresLlmObsLifecycleServer fixture) : LlmObsLifecycleTests(fixture), IClassFixture<PostgresLlmObsLifecycleServer>;
