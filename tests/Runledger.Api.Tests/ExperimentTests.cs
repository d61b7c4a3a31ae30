using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dapper;
using Runledger.Api.Tests.Support;
using Runledger.Storage;
using Runledger.Storage.Credentials;

namespace Runledger.Api.Tests;

/// <summary>
/// /api/v2/llm-obs/v1/experiments: create, list (every filter), update, and the soft delete with
/// its retention purge, on a server whose clock the tests move.
/// </summary>
public abstract class ExperimentTests(ClockedServer fixture)
{
    private const string Experiments = "/api/v2/llm-obs/v1/experiments";

    private TestServer Server => fixture.Server;

    private static string Stamp(DateTimeOffset at) => JsonSerializer.Serialize(at).Trim('"');

    internal static async Task<string> ProjectAsync(HttpClient client)
    {
        var body = await (await client.PostAsync("/api/v2/llm-obs/v1/projects", Http.JsonApi("projects", new JsonObject { ["name"] = "exp-proj-" + Guid.NewGuid().ToString("N") }))).ExpectAsync(HttpStatusCode.Created);
        return (string)body["data"]!["id"]!;
    }

    internal static async Task<JsonNode> CreateAsync(HttpClient client, JsonObject attributes, HttpStatusCode status = HttpStatusCode.Created) =>
        await (await client.PostAsync(Experiments, Http.JsonApi("experiments", attributes))).ExpectAsync(status);

    internal static async Task<string> ExperimentAsync(HttpClient client, string projectId, string name = "exp", JsonObject? extra = null)
    {
        var attributes = new JsonObject { ["project_id"] = projectId, ["name"] = name };
        foreach (var (key, value) in extra ?? [])
        {
            attributes[key] = value?.DeepClone();
        }

        return (string)(await CreateAsync(client, attributes))["data"]!["id"]!;
    }

    private async Task<List<string>> IdsAsync(string query, HttpClient? client = null)
    {
        var body = await ((client ?? Server.Datadog).GetAsync(Experiments + query)).OkAsync();
        return body["data"]!.AsArray().Select(e => (string)e!["id"]!).ToList();
    }

    private static StringContent Delete(params string[] ids) =>
        Http.JsonApi("experiments", new JsonObject { ["experiment_ids"] = new JsonArray(ids.Select(i => (JsonNode)i).ToArray()) });

    private async Task<long> CountAsync(string table, string experimentId)
    {
        await using var connection = await Server.Service<IDatabase>().OpenAsync(CancellationToken.None);
        var column = table == "llm_experiments" ? "id" : "experiment_id";
        return await connection.ExecuteScalarAsync<long>($"SELECT COUNT(*) FROM {table} WHERE {column} = @experimentId", new { experimentId });
    }

    [Fact]
    public async Task Create_Minimal_201WithEveryRequiredAttribute()
    {
        var project = await ProjectAsync(Server.Datadog);
        var now = Stamp(fixture.Clock.GetUtcNow());
        var body = await CreateAsync(Server.Datadog, new JsonObject { ["project_id"] = project, ["name"] = "My Experiment v1" });
        var id = (string)body["data"]!["id"]!;
        Http.AssertJson($$"""
            {"data":{"id":"{{id}}","type":"experiments","attributes":{
              "project_id":"{{project}}","dataset_id":"","name":"My Experiment v1","description":null,"metadata":null,"config":null,
              "created_at":"{{now}}","updated_at":"{{now}}","status":"running","experiment":"My Experiment v1","error":null,
              "deleted_at":null,"parent_experiment_id":null} } }
            """, body);
    }

    [Fact]
    public async Task Create_AllAttributes_StoredAndListed()
    {
        var project = await ProjectAsync(Server.Datadog);
        var parent = await ExperimentAsync(Server.Datadog, project, "baseline");
        var body = await CreateAsync(Server.Datadog, new JsonObject
        {
            ["project_id"] = project,
            ["name"] = "candidate",
            ["description"] = "tries a new prompt",
            ["config"] = new JsonObject { ["model"] = "gpt", ["temperature"] = 0.2 },
            ["metadata"] = new JsonObject { ["commit"] = "abc123", ["branch"] = "main" },
            ["parent_experiment_id"] = parent,
            ["run_count"] = 3,
            ["ensure_unique"] = false,
        });
        var attributes = body["data"]!["attributes"]!;
        Assert.Equal("tries a new prompt", (string?)attributes["description"]);
        Http.AssertJson("""{"model":"gpt","temperature":0.2}""", attributes["config"]!);
        Http.AssertJson("""{"commit":"abc123","branch":"main"}""", attributes["metadata"]!);
        Assert.Equal(parent, (string?)attributes["parent_experiment_id"]);
        Assert.Equal(3, (int)attributes["run_count"]!);

        var listed = await (await Server.Datadog.GetAsync($"{Experiments}?filter[project_id]={project}&filter[id]={body["data"]!["id"]}")).OkAsync();
        Http.AssertJson(body["data"]!.ToJsonString(), listed["data"]![0]!);
    }

    [Fact]
    public async Task Create_EnsureUnique_SuffixesTheRunNameAndKeepsTheExperimentName()
    {
        var project = await ProjectAsync(Server.Datadog);
        var names = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var body = await CreateAsync(Server.Datadog, new JsonObject { ["project_id"] = project, ["name"] = "nightly" });
            names.Add((string)body["data"]!["attributes"]!["name"]!);
            Assert.Equal("nightly", (string?)body["data"]!["attributes"]!["experiment"]);
        }

        Assert.Equal(["nightly", "nightly-2", "nightly-3"], names);

        // ensure_unique false: the name as given, even though it is taken.
        var same = await CreateAsync(Server.Datadog, new JsonObject { ["project_id"] = project, ["name"] = "nightly", ["ensure_unique"] = false });
        Assert.Equal("nightly", (string?)same["data"]!["attributes"]!["name"]);

        // filter[name] is the run name, filter[experiment] the logical name shared by every run.
        Assert.Equal(2, (await IdsAsync($"?filter[project_id]={project}&filter[name]=nightly")).Count);
        Assert.Equal(4, (await IdsAsync($"?filter[project_id]={project}&filter[experiment]=nightly")).Count);

        // Another project does not count.
        var other = await ProjectAsync(Server.Datadog);
        var first = await CreateAsync(Server.Datadog, new JsonObject { ["project_id"] = other, ["name"] = "nightly" });
        Assert.Equal("nightly", (string?)first["data"]!["attributes"]!["name"]);
    }

    [Theory]
    [InlineData("""{"data":{"type":"projects","attributes":{"name":"x","project_id":"p"}}}""", "/data/type", "'data.type' must be \"experiments\".")]
    [InlineData("""{"data":{"type":"experiments","attributes":{"name":"x"}}}""", "/data/attributes/project_id", "'project_id' is required.")]
    [InlineData("""{"data":{"type":"experiments","attributes":{"project_id":"{project}"}}}""", "/data/attributes/name", "'name' is required.")]
    [InlineData("""{"data":{"type":"experiments","attributes":{"project_id":"{project}","name":"x","config":[1]}}}""", "/data/attributes/config", "'config' must be an object.")]
    [InlineData("""{"data":{"type":"experiments","attributes":{"project_id":"{project}","name":"x","metadata":"m"}}}""", "/data/attributes/metadata", "'metadata' must be an object.")]
    [InlineData("""{"data":{"type":"experiments","attributes":{"project_id":"{project}","name":"x","ensure_unique":"yes"}}}""", "/data/attributes/ensure_unique", "'ensure_unique' must be true or false.")]
    [InlineData("""{"data":{"type":"experiments","attributes":{"project_id":"{project}","name":"x","run_count":-1}}}""", "/data/attributes/run_count", "'run_count' must be a whole number between 0 and 2147483647.")]
    [InlineData("""{"data":{"type":"experiments","attributes":{"project_id":"{project}","name":"x","dataset_version":2}}}""", "/data/attributes/dataset_version", "dataset_version needs dataset_id: name the dataset whose version the experiment runs on.")]
    [InlineData("""{"data":{"type":"experiments","attributes":{"project_id":"nope","name":"x"}}}""", "/data/attributes/project_id", "Project 'nope' does not exist (or is being deleted); create it first with POST /api/v2/llm-obs/v1/projects.")]
    [InlineData("""{"data":{"type":"experiments","attributes":{"project_id":"{project}","name":"x","parent_experiment_id":"nope"}}}""", "/data/attributes/parent_experiment_id", "Parent experiment 'nope' does not exist.")]
    public async Task Create_Invalid_400PointsAtTheFieldAndNothingStored(string json, string jsonPointer, string detail)
    {
        var project = await ProjectAsync(Server.Datadog);
        var response = await Server.Datadog.PostAsync(Experiments, Http.Json(json.Replace("{project}", project, StringComparison.Ordinal)));
        var body = await response.ExpectAsync(HttpStatusCode.BadRequest);
        Http.AssertJson(LlmObsErrors.Body(400, "Bad Request", detail, "InvalidRequest", pointer: jsonPointer), body, response.RequestId());
        Assert.Empty(await IdsAsync($"?filter[project_id]={project}"));
    }

    [Fact]
    public async Task List_WithoutProjectOrDataset_400NamesTheParameter()
    {
        var response = await Server.Datadog.GetAsync(Experiments);
        Http.AssertJson(
            LlmObsErrors.Body(400, "Bad Request", "filter[project_id] is required unless filter[dataset_id] is given; name the project (or the dataset) whose experiments to list.", "InvalidParameter", parameter: "filter[project_id]"),
            await response.ExpectAsync(HttpStatusCode.BadRequest), response.RequestId());

        var metadata = await Server.Datadog.GetAsync($"{Experiments}?filter[project_id]=p&filter[metadata]=[1]");
        Http.AssertJson(
            LlmObsErrors.Body(400, "Bad Request", "filter[metadata] must be a JSON object such as {\"commit\":\"abc123\",\"branch\":\"main\"}.", "InvalidParameter", parameter: "filter[metadata]"),
            await metadata.ExpectAsync(HttpStatusCode.BadRequest), metadata.RequestId());
        var deleted = await (await Server.Datadog.GetAsync($"{Experiments}?filter[project_id]=p&filter[is_deleted]=maybe")).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("filter[is_deleted]", (string?)deleted["errors"]![0]!["source"]!["parameter"]);
    }

    [Fact]
    public async Task List_Filters_IdNameMetadataParentAndEncodedNames()
    {
        var project = await ProjectAsync(Server.Datadog);
        var baseline = await ExperimentAsync(Server.Datadog, project, "baseline", new JsonObject { ["metadata"] = new JsonObject { ["branch"] = "main", ["commit"] = "a1", ["tags"] = new JsonArray("x", "y") } });
        fixture.Clock.Advance(TimeSpan.FromMilliseconds(1));
        var child1 = await ExperimentAsync(Server.Datadog, project, "child", new JsonObject { ["parent_experiment_id"] = baseline, ["metadata"] = new JsonObject { ["branch"] = "main", ["commit"] = "b2", ["n"] = 1 } });
        fixture.Clock.Advance(TimeSpan.FromMilliseconds(1));
        var child2 = await ExperimentAsync(Server.Datadog, project, "child", new JsonObject { ["parent_experiment_id"] = baseline, ["metadata"] = new JsonObject { ["branch"] = "dev", ["n"] = true } });
        fixture.Clock.Advance(TimeSpan.FromMilliseconds(1));
        var plain = await ExperimentAsync(Server.Datadog, project, "plain");

        var all = $"?filter[project_id]={project}";
        Assert.Equal([plain, child2, child1, baseline], await IdsAsync(all));
        Assert.Equal([child1, baseline], await IdsAsync($"{all}&filter[id]={baseline}&filter[id]={child1}"));
        Assert.Equal([child1, baseline], await IdsAsync($"{all}&filter%5Bid%5D={baseline},{child1}"));
        Assert.Equal([child1], await IdsAsync($"{all}&filter[name]=child"));
        Assert.Equal([child2, child1], await IdsAsync($"{all}&filter[experiment]=child"));
        Assert.Equal([child2, child1], await IdsAsync($"{all}&filter[parent_experiment_id]={baseline}"));

        async Task<List<string>> ByMetadata(string json) => await IdsAsync($"{all}&filter[metadata]={Uri.EscapeDataString(json)}");
        Assert.Equal([child1, baseline], await ByMetadata("""{"branch":"main"}"""));
        Assert.Equal([child1], await ByMetadata("""{"branch":"main","commit":"b2"}"""));
        Assert.Equal([child1], await ByMetadata("""{"n":1}"""));
        Assert.Equal([child2], await ByMetadata("""{"n":true}"""));
        Assert.Equal([baseline], await ByMetadata("""{"tags":["y"]}"""));
        Assert.Empty(await ByMetadata("""{"tags":["z"]}"""));
        Assert.Empty(await ByMetadata("""{"branch":"release"}"""));
        Assert.Equal([child2, child1, baseline], await ByMetadata("{}"));

        // Another organisation sees none of them.
        var org = "exp-org-" + Guid.NewGuid().ToString("N");
        using var stranger = Server.NewDatadogClient(
            await Server.AddCredentialAsync(CredentialKinds.DatadogApiKey, "", orgId: org),
            await Server.AddCredentialAsync(CredentialKinds.DatadogAppKey, "read write", orgId: org));
        Assert.Empty(await IdsAsync(all, stranger));
    }

    [Fact]
    public async Task List_PagingNewestFirst_CursorAndLimitClampedTo5000()
    {
        var project = await ProjectAsync(Server.Datadog);
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await ExperimentAsync(Server.Datadog, project, $"e{i}"));
            fixture.Clock.Advance(TimeSpan.FromMilliseconds(1));
        }

        ids.Reverse();
        var seen = new List<string>();
        var url = $"{Experiments}?filter[project_id]={project}&page%5Blimit%5D=2";
        string? after;
        do
        {
            var page = await (await Server.Datadog.GetAsync(url)).OkAsync();
            seen.AddRange(page["data"]!.AsArray().Select(e => (string)e!["id"]!));
            after = (string?)page["meta"]!["after"];
            url = $"{Experiments}?filter[project_id]={project}&page[limit]=2&page[cursor]={after}";
        }
        while (after is not null);

        Assert.Equal(ids, seen);
        var clamped = await (await Server.Datadog.GetAsync($"{Experiments}?filter[project_id]={project}&page[limit]=1000000")).OkAsync();
        Assert.Equal(ids, clamped["data"]!.AsArray().Select(e => (string)e!["id"]!));
        Assert.Null((string?)clamped["meta"]!["after"]);
        var zero = await (await Server.Datadog.GetAsync($"{Experiments}?filter[project_id]={project}&page[limit]=0")).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("page[limit]", (string?)zero["errors"]![0]!["source"]!["parameter"]);
    }

    [Fact]
    public async Task Update_NameDescriptionStatusErrorMetadata_200AndStored()
    {
        var project = await ProjectAsync(Server.Datadog);
        var id = await ExperimentAsync(Server.Datadog, project, "to-update", new JsonObject { ["metadata"] = new JsonObject { ["a"] = 1 } });
        fixture.Clock.Advance(TimeSpan.FromSeconds(1));
        var response = await Server.Datadog.PatchAsync($"{Experiments}/{id}", Http.JsonApi("experiments", new JsonObject
        {
            ["name"] = "renamed",
            ["description"] = "now described",
            ["status"] = "failed",
            ["error"] = "model timed out",
            ["metadata"] = new JsonObject { ["b"] = 2 },
        }));
        var attributes = (await response.OkAsync())["data"]!["attributes"]!;
        Assert.Equal("renamed", (string?)attributes["name"]);
        Assert.Equal("to-update", (string?)attributes["experiment"]);
        Assert.Equal("now described", (string?)attributes["description"]);
        Assert.Equal("failed", (string?)attributes["status"]);
        Assert.Equal("model timed out", (string?)attributes["error"]);
        Http.AssertJson("""{"b":2}""", attributes["metadata"]!);
        Assert.Equal(Stamp(fixture.Clock.GetUtcNow()), (string?)attributes["updated_at"]);
        Assert.NotEqual((string?)attributes["created_at"], (string?)attributes["updated_at"]);

        var listed = await (await Server.Datadog.GetAsync($"{Experiments}?filter[project_id]={project}&filter[id]={id}")).OkAsync();
        Http.AssertJson(attributes.ToJsonString(), listed["data"]![0]!["attributes"]!);

        // Only what is sent changes.
        var status = await (await Server.Datadog.PatchAsync($"{Experiments}/{id}", Http.JsonApi("experiments", new JsonObject { ["status"] = "completed" }))).OkAsync();
        Assert.Equal("renamed", (string?)status["data"]!["attributes"]!["name"]);
        Assert.Equal("completed", (string?)status["data"]!["attributes"]!["status"]);
    }

    [Fact]
    public async Task Update_InvalidOrUnknown_ExactErrorsAndUnchanged()
    {
        var project = await ProjectAsync(Server.Datadog);
        var id = await ExperimentAsync(Server.Datadog, project, "stays");
        var bad = await Server.Datadog.PatchAsync($"{Experiments}/{id}", Http.JsonApi("experiments", new JsonObject { ["status"] = "paused" }));
        Http.AssertJson(
            LlmObsErrors.Body(400, "Bad Request", "'status' is 'paused'; it must be one of: running, completed, failed, interrupted.", "InvalidRequest", pointer: "/data/attributes/status"),
            await bad.ExpectAsync(HttpStatusCode.BadRequest), bad.RequestId());
        await (await Server.Datadog.PatchAsync($"{Experiments}/{id}", Http.JsonApi("experiments", new JsonObject { ["name"] = "" }))).ExpectAsync(HttpStatusCode.BadRequest);
        await (await Server.Datadog.PatchAsync($"{Experiments}/{id}", Http.JsonApi("experiments", new JsonObject { ["metadata"] = 5 }))).ExpectAsync(HttpStatusCode.BadRequest);

        var missing = await Server.Datadog.PatchAsync($"{Experiments}/nope", Http.JsonApi("experiments", new JsonObject { ["name"] = "x" }));
        Http.AssertJson(
            LlmObsErrors.Body(404, "Not Found", "Experiment 'nope' does not exist (or has been deleted).", "ExperimentNotFound", parameter: "experiment_id"),
            await missing.ExpectAsync(HttpStatusCode.NotFound), missing.RequestId());

        var listed = await (await Server.Datadog.GetAsync($"{Experiments}?filter[project_id]={project}")).OkAsync();
        Assert.Equal("stays", (string?)listed["data"]![0]!["attributes"]!["name"]);
        Assert.Equal("running", (string?)listed["data"]![0]!["attributes"]!["status"]);
    }

    [Fact]
    public async Task Delete_SoftThenIsDeletedListThenRetentionPurgesEverything()
    {
        var project = await ProjectAsync(Server.Datadog);
        var doomed = await ExperimentAsync(Server.Datadog, project, "doomed");
        var kept = await ExperimentAsync(Server.Datadog, project, "kept");
        await (await Server.Datadog.PostAsync($"{Experiments}/{doomed}/events", EventTests.Push(project, 3))).ExpectAsync(HttpStatusCode.Accepted);
        var deletedAt = Stamp(fixture.Clock.GetUtcNow());

        var response = await Server.Datadog.PostAsync($"{Experiments}/delete", Delete(doomed, "unknown-id"));
        await response.ExpectAsync(HttpStatusCode.NoContent);
        Assert.Equal(0, response.Content.Headers.ContentLength ?? 0);

        // Gone from normal lists, listed with filter[is_deleted]=true with its deleted_at.
        Assert.Equal([kept], await IdsAsync($"?filter[project_id]={project}"));
        var deleted = await (await Server.Datadog.GetAsync($"{Experiments}?filter[project_id]={project}&filter[is_deleted]=true")).OkAsync();
        Assert.Equal([doomed], deleted["data"]!.AsArray().Select(e => (string)e!["id"]!));
        Assert.Equal(deletedAt, (string?)deleted["data"]![0]!["attributes"]!["deleted_at"]);

        // Its events stay readable by id; pushing more, or updating it, is refused.
        var events = await (await Server.Datadog.GetAsync($"/api/v2/llm-obs/v3/experiments/{doomed}/events")).OkAsync();
        Assert.Equal(3, events["data"]!["attributes"]!["spans"]!.AsArray().Count);
        var push = await Server.Datadog.PostAsync($"{Experiments}/{doomed}/events", EventTests.Push(project, 1));
        Http.AssertJson(
            LlmObsErrors.Body(404, "Not Found", $"Experiment '{doomed}' does not exist (or has been deleted).", "ExperimentNotFound", parameter: "experiment_id"),
            await push.ExpectAsync(HttpStatusCode.NotFound), push.RequestId());
        await (await Server.Datadog.PatchAsync($"{Experiments}/{doomed}", Http.JsonApi("experiments", new JsonObject { ["name"] = "x" }))).ExpectAsync(HttpStatusCode.NotFound);

        // Deleting again is harmless and schedules nothing new.
        var again = await Server.Datadog.PostAsync($"{Experiments}/delete", Delete(doomed));
        await again.ExpectAsync(HttpStatusCode.NoContent);
        Assert.False(again.Headers.Contains("Runledger-Deletion-Job"));

        // Within the retention period nothing is reclaimed …
        fixture.Clock.Advance(TimeSpan.FromDays(29));
        await fixture.RunDeletionJobsAsync();
        Assert.Equal(1, await CountAsync("llm_experiments", doomed));
        Assert.Equal(3, await CountAsync("llm_experiment_spans", doomed));

        // … after it, the experiment and its events are purged; the other experiment is untouched.
        fixture.Clock.Advance(TimeSpan.FromDays(1) + TimeSpan.FromSeconds(1));
        Assert.True(await fixture.RunDeletionJobsAsync() >= 1);
        Assert.Equal(0, await CountAsync("llm_experiments", doomed));
        Assert.Equal(0, await CountAsync("llm_experiment_spans", doomed));
        Assert.Equal(0, await CountAsync("llm_experiment_metrics", doomed));
        Assert.Empty((await (await Server.Datadog.GetAsync($"{Experiments}?filter[project_id]={project}&filter[is_deleted]=true")).OkAsync())["data"]!.AsArray());
        await (await Server.Datadog.GetAsync($"/api/v2/llm-obs/v3/experiments/{doomed}/events")).ExpectAsync(HttpStatusCode.NotFound);
        Assert.Equal([kept], await IdsAsync($"?filter[project_id]={project}"));
        var job = await Server.WaitForJobAsync(response.JobId(), timeoutSeconds: 10);
        Http.AssertJson("""{"llm_experiment_metrics":3,"llm_experiment_spans":3,"llm_experiment":1}""", job["removed"]!);
    }

    /// <summary>The v1 and v3 event listings of an experiment, byte for byte.</summary>
    private async Task<(string V1, string V3)> EventBodiesAsync(string id)
    {
        var v1 = await Server.Datadog.GetAsync($"/api/v2/llm-obs/v1/experiments/{id}/events");
        var v3 = await Server.Datadog.GetAsync($"/api/v2/llm-obs/v3/experiments/{id}/events");
        Assert.Equal(HttpStatusCode.OK, v1.StatusCode);
        Assert.Equal(HttpStatusCode.OK, v3.StatusCode);
        return (await v1.Content.ReadAsStringAsync(), await v3.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Delete_ThenRestoreWithinRetention_ExperimentAndEventsBackAsTheyWere()
    {
        var project = await ProjectAsync(Server.Datadog);
        var id = await ExperimentAsync(Server.Datadog, project, "restorable");
        await (await Server.Datadog.PostAsync($"{Experiments}/{id}/events", EventTests.Push(project, 2))).ExpectAsync(HttpStatusCode.Accepted);
        var before = await (await Server.Datadog.GetAsync($"{Experiments}?filter[project_id]={project}")).OkAsync();
        var eventsBefore = await EventBodiesAsync(id);
        var response = await Server.Datadog.PostAsync($"{Experiments}/delete", Delete(id));
        await response.ExpectAsync(HttpStatusCode.NoContent);
        Assert.Empty(await IdsAsync($"?filter[project_id]={project}"));

        fixture.Clock.Advance(TimeSpan.FromDays(10));
        await (await Server.Admin.PostAsync($"/runledger/v1/deletions/{response.JobId()}/restore", null)).ExpectAsync(HttpStatusCode.OK);
        Http.AssertJson(before.ToJsonString(), await (await Server.Datadog.GetAsync($"{Experiments}?filter[project_id]={project}")).OkAsync());
        Assert.Equal(eventsBefore, await EventBodiesAsync(id));
        Assert.Empty((await (await Server.Datadog.GetAsync($"{Experiments}?filter[project_id]={project}&filter[is_deleted]=true")).OkAsync())["data"]!.AsArray());
        await (await Server.Datadog.PostAsync($"{Experiments}/{id}/events", EventTests.Push(project, 1, offset: 2))).ExpectAsync(HttpStatusCode.Accepted);
        Assert.Equal(3, await CountAsync("llm_experiment_spans", id));

        // Past the old retention date nothing is purged: the job was restored.
        fixture.Clock.Advance(TimeSpan.FromDays(30));
        await fixture.RunDeletionJobsAsync();
        Assert.Equal(1, await CountAsync("llm_experiments", id));
    }

    [Theory]
    [InlineData("""{"data":{"type":"experiments","attributes":{"experiment_ids":[]}}}""", "/data/attributes/experiment_ids", "'experiment_ids' is empty; list 1 to 1000 ids.")]
    [InlineData("""{"data":{"type":"experiments","attributes":{}}}""", "/data/attributes/experiment_ids", "'experiment_ids' is required and must be an array of ids.")]
    [InlineData("""{"data":{"type":"experiments","attributes":{"experiment_ids":["{id}",7]}}}""", "/data/attributes/experiment_ids/1", "'experiment_ids[1]' must be a non-empty string id.")]
    [InlineData("""{"data":{"type":"projects","attributes":{"experiment_ids":["{id}"]}}}""", "/data/type", "'data.type' must be \"experiments\".")]
    public async Task Delete_Invalid_400AndNothingChanges(string json, string jsonPointer, string detail)
    {
        var project = await ProjectAsync(Server.Datadog);
        var id = await ExperimentAsync(Server.Datadog, project);
        var response = await Server.Datadog.PostAsync($"{Experiments}/delete", Http.Json(json.Replace("{id}", id, StringComparison.Ordinal)));
        Http.AssertJson(LlmObsErrors.Body(400, "Bad Request", detail, "InvalidRequest", pointer: jsonPointer), await response.ExpectAsync(HttpStatusCode.BadRequest), response.RequestId());
        Assert.Equal([id], await IdsAsync($"?filter[project_id]={project}"));
    }

    [Fact]
    public async Task Delete_TooManyIdsOrAnotherOrganisationsExperiment_NothingChanges()
    {
        var project = await ProjectAsync(Server.Datadog);
        var id = await ExperimentAsync(Server.Datadog, project);
        var tooMany = Enumerable.Range(0, 1001).Select(i => $"id-{i}").Append(id).ToArray();
        var body = await (await Server.Datadog.PostAsync($"{Experiments}/delete", Delete(tooMany))).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("'experiment_ids' has 1002 ids; at most 1000 may be deleted in one request.", (string?)body["errors"]![0]!["detail"]);

        var org = "exp-del-org-" + Guid.NewGuid().ToString("N");
        using var stranger = Server.NewDatadogClient(
            await Server.AddCredentialAsync(CredentialKinds.DatadogApiKey, "", orgId: org),
            await Server.AddCredentialAsync(CredentialKinds.DatadogAppKey, "read write", orgId: org));
        await (await stranger.PostAsync($"{Experiments}/delete", Delete(id))).ExpectAsync(HttpStatusCode.NoContent);
        Assert.Equal([id], await IdsAsync($"?filter[project_id]={project}"));
    }

    [Fact]
    public async Task Create_WithDataset_VersionDefaultsToCurrentAndTheVersionIsKeptInUse()
    {
        var project = await ProjectAsync(Server.Datadog);
        var dataset = await Server.Datadog.NewDatasetAsync(project, "qa-set");
        await Server.Datadog.AppendAsync(project, dataset, 2);
        fixture.Clock.Advance(TimeSpan.FromMinutes(1));
        var now = Stamp(fixture.Clock.GetUtcNow());

        var body = await CreateAsync(Server.Datadog, new JsonObject { ["project_id"] = project, ["name"] = "on-data", ["dataset_id"] = dataset });
        var id = (string)body["data"]!["id"]!;
        Assert.Equal(dataset, (string?)body["data"]!["attributes"]!["dataset_id"]);
        Assert.Equal(1, (long)body["data"]!["attributes"]!["dataset_version"]!);
        var older = await CreateAsync(Server.Datadog, new JsonObject { ["project_id"] = project, ["name"] = "on-v0", ["dataset_id"] = dataset, ["dataset_version"] = 0 });
        Assert.Equal(0, (long)older["data"]!["attributes"]!["dataset_version"]!);

        // Both referenced versions are marked as used now (dataset version retention keeps them).
        var versions = await (await Server.Datadog.GetAsync($"{LlmObs.V1}/{project}/datasets/{dataset}/versions")).OkAsync();
        foreach (var version in versions["data"]!.AsArray())
        {
            Assert.Equal(now, (string?)version!["attributes"]!["last_used"]);
        }

        // filter[dataset_id] alone is enough; include[dataset_names] adds the name.
        var listed = await (await Server.Datadog.GetAsync($"{Experiments}?filter[dataset_id]={dataset}&include[dataset_names]=true&include[user_data]=true")).OkAsync();
        Assert.Equal(2, listed["data"]!.AsArray().Count);
        Assert.Equal("qa-set", (string?)listed["data"]![0]!["attributes"]!["dataset_name"]);
        Assert.NotNull(listed["data"]![0]!["attributes"]!["author"]!["id"]);
        var plain = await (await Server.Datadog.GetAsync($"{Experiments}?filter[dataset_id]={dataset}")).OkAsync();
        Assert.False(plain["data"]![0]!["attributes"]!.AsObject().ContainsKey("dataset_name"));

        // Another dataset: the experiment now runs on its current version.
        var other = await Server.Datadog.NewDatasetAsync(project);
        var moved = await (await Server.Datadog.PatchAsync($"{Experiments}/{id}", Http.JsonApi("experiments", new JsonObject { ["dataset_id"] = other }))).OkAsync();
        Assert.Equal(other, (string?)moved["data"]!["attributes"]!["dataset_id"]);
        Assert.Equal(0, (long)moved["data"]!["attributes"]!["dataset_version"]!);
        var unknown = await Server.Datadog.PatchAsync($"{Experiments}/{id}", Http.JsonApi("experiments", new JsonObject { ["dataset_id"] = "nope" }));
        Http.AssertJson(
            LlmObsErrors.Body(400, "Bad Request", "Dataset 'nope' does not exist in the experiment's project (or is being deleted).", "InvalidRequest", pointer: "/data/attributes/dataset_id"),
            await unknown.ExpectAsync(HttpStatusCode.BadRequest), unknown.RequestId());
    }

    [Fact]
    public async Task Create_BadDatasetReference_400AndNothingStored()
    {
        var project = await ProjectAsync(Server.Datadog);
        var dataset = await Server.Datadog.NewDatasetAsync(project);
        var elsewhere = await Server.Datadog.NewDatasetAsync(await ProjectAsync(Server.Datadog));
        var cases = new (JsonObject Attributes, string Pointer, string Detail)[]
        {
            (new JsonObject { ["dataset_id"] = dataset, ["dataset_version"] = 5 }, "/data/attributes/dataset_version", $"Dataset '{dataset}' has no version 5; use a version between 0 and its current_version."),
            (new JsonObject { ["dataset_id"] = "nope" }, "/data/attributes/dataset_id", $"Dataset 'nope' does not exist in project '{project}' (or is being deleted)."),
            (new JsonObject { ["dataset_id"] = elsewhere }, "/data/attributes/dataset_id", $"Dataset '{elsewhere}' does not exist in project '{project}' (or is being deleted)."),
        };
        foreach (var (attributes, jsonPointer, detail) in cases)
        {
            attributes["project_id"] = project;
            attributes["name"] = "bad-ref";
            var response = await Server.Datadog.PostAsync(Experiments, Http.JsonApi("experiments", attributes));
            Http.AssertJson(LlmObsErrors.Body(400, "Bad Request", detail, "InvalidRequest", pointer: jsonPointer), await response.ExpectAsync(HttpStatusCode.BadRequest), response.RequestId());
        }

        Assert.Empty(await IdsAsync($"?filter[project_id]={project}"));
    }

    [Fact]
    public async Task ProjectDelete_CascadesToExperimentsAndEvents_NothingLeft()
    {
        var project = await ProjectAsync(Server.Datadog);
        var dataset = await Server.Datadog.NewDatasetAsync(project);
        var live = await ExperimentAsync(Server.Datadog, project, "live", new JsonObject { ["dataset_id"] = dataset });
        var soft = await ExperimentAsync(Server.Datadog, project, "soft");
        foreach (var id in new[] { live, soft })
        {
            await (await Server.Datadog.PostAsync($"{Experiments}/{id}/events", EventTests.Push(project, 4))).ExpectAsync(HttpStatusCode.Accepted);
        }

        await (await Server.Datadog.PostAsync($"{Experiments}/delete", Delete(soft))).ExpectAsync(HttpStatusCode.NoContent);
        var response = await Server.Datadog.PostAsync($"{LlmObs.V1}/projects/delete", LlmObs.Delete("projects", "project_ids", project));
        await response.ExpectAsync(HttpStatusCode.NoContent);

        // Hidden at once, soft-deleted ones too; pushing to them is refused.
        Assert.Empty(await IdsAsync($"?filter[project_id]={project}"));
        Assert.Empty(await IdsAsync($"?filter[project_id]={project}&filter[is_deleted]=true"));
        await (await Server.Datadog.PostAsync($"{Experiments}/{live}/events", EventTests.Push(project, 1))).ExpectAsync(HttpStatusCode.NotFound);
        await (await Server.Datadog.GetAsync($"/api/v2/llm-obs/v3/experiments/{live}/events")).ExpectAsync(HttpStatusCode.NotFound);

        await fixture.RunDeletionJobsAsync();
        var job = await Server.WaitForJobAsync(response.JobId().Split(',')[0].Trim(), timeoutSeconds: 10);
        Assert.Equal(8, (long)job["removed"]!["llm_experiment_spans"]!);
        Assert.Equal(8, (long)job["removed"]!["llm_experiment_metrics"]!);
        Assert.Equal(2, (long)job["removed"]!["llm_experiments"]!);
        foreach (var id in new[] { live, soft })
        {
            Assert.Equal(0, await CountAsync("llm_experiments", id));
            Assert.Equal(0, await CountAsync("llm_experiment_spans", id));
            Assert.Equal(0, await CountAsync("llm_experiment_metrics", id));
        }

        // The soft-deleted experiment's own job later finds nothing left and finishes.
        fixture.Clock.Advance(TimeSpan.FromDays(31));
        await fixture.RunDeletionJobsAsync();
        Assert.Equal(0, await Server.CountAsync("SELECT COUNT(*) FROM deletion_jobs WHERE target_id = @soft AND state <> 'done'", new { soft }));
    }

    [Fact]
    public async Task DatasetDelete_LeavesItsExperimentsAndTheirEvents()
    {
        var project = await ProjectAsync(Server.Datadog);
        var dataset = await Server.Datadog.NewDatasetAsync(project, "short-lived");
        var id = await ExperimentAsync(Server.Datadog, project, "keeps-results", new JsonObject { ["dataset_id"] = dataset });
        await (await Server.Datadog.PostAsync($"{Experiments}/{id}/events", EventTests.Push(project, 2))).ExpectAsync(HttpStatusCode.Accepted);
        await (await Server.Datadog.PostAsync($"{LlmObs.V1}/{project}/datasets/delete", LlmObs.Delete("datasets", "dataset_ids", dataset))).ExpectAsync(HttpStatusCode.NoContent);
        await fixture.RunDeletionJobsAsync();

        var listed = await (await Server.Datadog.GetAsync($"{Experiments}?filter[project_id]={project}&include[dataset_names]=true")).OkAsync();
        Assert.Equal([id], listed["data"]!.AsArray().Select(e => (string)e!["id"]!));
        Assert.Equal(dataset, (string?)listed["data"]![0]!["attributes"]!["dataset_id"]);
        Assert.Equal(2, await CountAsync("llm_experiment_spans", id));
    }

    [Fact]
    public async Task ReadOnlyKey_EveryWrite403_ReadsAllowed()
    {
        var project = await ProjectAsync(Server.Datadog);
        var id = await ExperimentAsync(Server.Datadog, project);
        using var reader = Server.NewDatadogClient(TestCredentials.DatadogApiKey, await Server.AddCredentialAsync(CredentialKinds.DatadogAppKey, "read"));
        var writes = new Func<Task<HttpResponseMessage>>[]
        {
            () => reader.PostAsync(Experiments, Http.JsonApi("experiments", new JsonObject { ["project_id"] = project, ["name"] = "ro" })),
            () => reader.PatchAsync($"{Experiments}/{id}", Http.JsonApi("experiments", new JsonObject { ["name"] = "ro" })),
            () => reader.PostAsync($"{Experiments}/delete", Delete(id)),
            () => reader.PostAsync($"{Experiments}/{id}/events", EventTests.Push(project, 1)),
        };
        foreach (var write in writes)
        {
            var response = await write();
            Http.AssertJson(
                """{"errors":[{"status":"403","title":"Forbidden","detail":"This application key does not have the 'write' scope this operation needs; use a key with 'write' scope.","source":{"header":"DD-APPLICATION-KEY"},"meta":{"code":"Forbidden","request_id":"{requestId}"}}]}""",
                await response.ExpectAsync(HttpStatusCode.Forbidden), response.RequestId());
        }

        Assert.Equal([id], await IdsAsync($"?filter[project_id]={project}", reader));
        Assert.Equal("exp", (string?)(await (await reader.GetAsync($"{Experiments}?filter[project_id]={project}")).OkAsync())["data"]![0]!["attributes"]!["name"]);
        Assert.Equal(0, await CountAsync("llm_experiment_spans", id));
        await (await reader.GetAsync($"/api/v2/llm-obs/v1/experiments/{id}/events")).ExpectAsync(HttpStatusCode.OK);
    }
}

public sealed class ExperimentTestsOnSqlite(SqliteClockedServer fixture) : ExperimentTests(fixture), IClassFixture<SqliteClockedServer>;

public sealed class ExperimentTestsOnPostgres(PostgresClockedServer fixture) : ExperimentTests(fixture), IClassFixture<PostgresClockedServer>;

/// <summary>Golden JSON:API error bodies with the request id as <c>{requestId}</c>.</summary>
internal static class LlmObsErrors
{
    public static string Body(int status, string title, string detail, string code, string? pointer = null, string? parameter = null)
    {
        var error = new JsonObject { ["status"] = status.ToString(System.Globalization.CultureInfo.InvariantCulture), ["title"] = title, ["detail"] = detail };
        if (pointer is not null || parameter is not null)
        {
            var source = new JsonObject();
            if (pointer is not null)
            {
                source["pointer"] = pointer;
            }

            if (parameter is not null)
            {
                source["parameter"] = parameter;
            }

            error["source"] = source;
        }

        error["meta"] = new JsonObject { ["code"] = code, ["request_id"] = "{requestId}" };
        return new JsonObject { ["errors"] = new JsonArray(error) }.ToJsonString();
    }

    public static Task<JsonNode> OkAsync(this HttpResponseMessage response) => response.ExpectAsync(HttpStatusCode.OK);

    public static async Task<JsonNode> OkAsync(this Task<HttpResponseMessage> response) => await (await response).ExpectAsync(HttpStatusCode.OK);
}
