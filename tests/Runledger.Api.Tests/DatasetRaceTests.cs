using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Runledger.Api.Tests.Support;
using Runledger.Storage.Credentials;
using static Runledger.Api.Tests.Support.LlmObs;

namespace Runledger.Api.Tests;

/// <summary>
/// Restore touches only the rows that differ, and concurrent writers never turn into a 500: restore
/// against record deletes, same-name creates, clones and renames, and two users locking one draft.
/// </summary>
public abstract class DatasetRaceTests(ServerFixture fixture)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private TestServer Server => fixture.Server;
    private HttpClient Client => Server.Datadog;

    private static string Records(string project, string dataset) => $"{V1}/{project}/datasets/{dataset}/records";

    private static StringContent Restore(string dataset, long version) =>
        Http.Json($$$$"""{"data":{"id":"{{{{dataset}}}}","type":"datasets","attributes":{"dataset_version":{{{{version}}}}}}}""");

    private async Task<long> CurrentVersionAsync(string project, string dataset)
    {
        var body = await (await Client.GetAsync($"{V1}/{project}/datasets?filter[id]={dataset}")).ExpectAsync(HttpStatusCode.OK);
        return (long)body["data"]![0]!["attributes"]!["current_version"]!;
    }

    [Fact]
    public async Task Restore_TouchesOnlyTheRowsThatDiffer_ResultEqualsTheOldVersionExactly()
    {
        var project = await Client.NewProjectAsync();
        var dataset = await Client.NewDatasetAsync(project);
        var ids = await Client.AppendAsync(project, dataset, 5);                                                         // v1
        await (await Client.PostAsync(Records(project, dataset) + "/delete", Delete("records", "record_ids", ids[0]))).ExpectAsync(HttpStatusCode.NoContent); // v2
        await (await Client.PatchAsync(Records(project, dataset), Http.JsonApi("records", new JsonObject
        {
            ["records"] = new JsonArray(new JsonObject { ["id"] = ids[1], ["input"] = "changed", ["expected_output"] = "new" }),
        }))).ExpectAsync(HttpStatusCode.OK);                                                                              // v3
        await Client.AppendAsync(project, dataset, 1, "late");                                                           // v4
        var v1 = await (await Client.GetAsync(Records(project, dataset) + "?filter[version]=1")).ExpectAsync(HttpStatusCode.OK);
        var rowsBefore = await Server.CountAsync("SELECT COUNT(*) FROM llm_records WHERE dataset_id = @dataset", new { dataset });

        await (await Client.PostAsync($"{V1}/{project}/datasets/{dataset}/restore", Restore(dataset, 1))).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(5, await CurrentVersionAsync(project, dataset));
        var v5 = await (await Client.GetAsync(Records(project, dataset))).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(v1["data"]!.ToJsonString(), v5["data"]!.ToJsonString());

        // The three records that never changed keep their one row; the deleted and the changed
        // record are live again from v5 (two new rows); the change and the late append are closed at v5.
        Assert.Equal(3, await Server.CountAsync("SELECT COUNT(*) FROM llm_records WHERE dataset_id = @dataset AND version_from = 1 AND version_to IS NULL", new { dataset }));
        Assert.Equal(2, await Server.CountAsync("SELECT COUNT(*) FROM llm_records WHERE dataset_id = @dataset AND version_from = 5", new { dataset }));
        Assert.Equal(2, await Server.CountAsync("SELECT COUNT(*) FROM llm_records WHERE dataset_id = @dataset AND version_to = 5", new { dataset }));
        Assert.Equal(rowsBefore + 2, await Server.CountAsync("SELECT COUNT(*) FROM llm_records WHERE dataset_id = @dataset", new { dataset }));

        // Every earlier version reads as it did; restoring the current version changes no row.
        Assert.Equal(4, (await (await Client.GetAsync(Records(project, dataset) + "?filter[version]=2")).ExpectAsync(HttpStatusCode.OK))["data"]!.AsArray().Count);
        Assert.Equal(5, (await (await Client.GetAsync(Records(project, dataset) + "?filter[version]=4")).ExpectAsync(HttpStatusCode.OK))["data"]!.AsArray().Count);
        await (await Client.PostAsync($"{V1}/{project}/datasets/{dataset}/restore", Restore(dataset, 5))).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(6, await CurrentVersionAsync(project, dataset));
        Assert.Equal(rowsBefore + 2, await Server.CountAsync("SELECT COUNT(*) FROM llm_records WHERE dataset_id = @dataset", new { dataset }));
        Assert.Equal(v1["data"]!.ToJsonString(), (await (await Client.GetAsync(Records(project, dataset))).ExpectAsync(HttpStatusCode.OK))["data"]!.ToJsonString());
    }

    [Fact]
    public async Task Restore_ConcurrentWithRecordDeletes_NoServerError_VersionsStayContiguous()
    {
        var project = await Client.NewProjectAsync();
        var dataset = await Client.NewDatasetAsync(project);
        var ids = await Client.AppendAsync(project, dataset, 10);
        using var timeout = new CancellationTokenSource(Timeout);
        var requests = new List<Task<HttpResponseMessage>>();
        for (var i = 0; i < 10; i++)
        {
            requests.Add(Client.PostAsync($"{V1}/{project}/datasets/{dataset}/restore", Restore(dataset, 1), timeout.Token));
            requests.Add(Client.PostAsync(Records(project, dataset) + "/delete", Delete("records", "record_ids", ids[i]), timeout.Token));
        }

        var responses = await Task.WhenAll(requests);
        Assert.All(responses, r => Assert.True(r.StatusCode is HttpStatusCode.OK or HttpStatusCode.NoContent, $"{r.RequestMessage!.RequestUri}: {(int)r.StatusCode}"));
        var current = await CurrentVersionAsync(project, dataset);
        var versions = await (await Client.GetAsync($"{V1}/{project}/datasets/{dataset}/versions")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(Enumerable.Range(0, (int)current + 1).Select(v => (long)v), versions["data"]!.AsArray().Select(v => (long)v!["attributes"]!["version_number"]!));

        // Each record has at most one live row.
        Assert.Equal(0, await Server.CountAsync(
            "SELECT COUNT(*) FROM (SELECT id FROM llm_records WHERE dataset_id = @dataset AND version_to IS NULL GROUP BY id HAVING COUNT(*) > 1) d", new { dataset }));
    }

    [Fact]
    public async Task Create_ConcurrentSameName_OneCreated_OthersGetTheSameDataset()
    {
        var project = await Client.NewProjectAsync();
        using var timeout = new CancellationTokenSource(Timeout);
        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ =>
            Client.PostAsync($"{V1}/{project}/datasets", Http.JsonApi("datasets", new JsonObject { ["name"] = "same" }), timeout.Token)));
        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.Created);
        Assert.Equal(7, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
        var ids = new HashSet<string>();
        foreach (var response in responses)
        {
            ids.Add((string)(await response.BodyAsync())["data"]!["id"]!);
        }

        Assert.Single(ids);
        Assert.Equal(1, await Server.CountAsync("SELECT COUNT(*) FROM llm_datasets WHERE project_id = @project", new { project }));
    }

    [Fact]
    public async Task CloneAndRename_ConcurrentToOneName_OneWins_OthersGet400()
    {
        var project = await Client.NewProjectAsync();
        var source = await Client.NewDatasetAsync(project);
        var others = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            others.Add(await Client.NewDatasetAsync(project));
        }

        using var timeout = new CancellationTokenSource(Timeout);
        var clones = Enumerable.Range(0, 3).Select(_ => Client.PostAsync($"{V1}/{project}/datasets/{source}/clone", Http.Json(
            $$$$"""{"data":{"id":"{{{{source}}}}","type":"datasets","attributes":{"name":"target"}}}"""), timeout.Token));
        var renames = others.Select(id => Client.PatchAsync($"{V1}/{project}/datasets/{id}", Http.JsonApi("datasets", new JsonObject { ["name"] = "target" }), timeout.Token));
        var responses = await Task.WhenAll(clones.Concat(renames));
        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.OK);
        foreach (var refused in responses.Where(r => r.StatusCode != HttpStatusCode.OK))
        {
            await refused.ExpectErrorAsync(HttpStatusCode.BadRequest, Error("400", "Bad Request",
                "A dataset named 'target' already exists in this project (or is still being deleted); choose another name.", "InvalidRequest", jsonPointer: "/data/attributes/name"));
        }

        Assert.Equal(1, await Server.CountAsync("SELECT COUNT(*) FROM llm_datasets WHERE project_id = @project AND name = 'target'", new { project }));
    }

    [Fact]
    public async Task LockDraft_TwoUsersAtOnce_ExactlyOneHoldsIt()
    {
        var project = await Client.NewProjectAsync();
        using var second = Server.NewDatadogClient(TestCredentials.DatadogApiKey, await Server.AddCredentialAsync(CredentialKinds.DatadogAppKey, "read write"));
        using var timeout = new CancellationTokenSource(Timeout);
        for (var round = 0; round < 5; round++)
        {
            var dataset = await Client.NewDatasetAsync(project);
            var url = $"{V1}/{project}/datasets/{dataset}/draft_state/lock";
            var responses = await Task.WhenAll(Client.PatchAsync(url, null, timeout.Token), second.PatchAsync(url, null, timeout.Token));
            Assert.Single(responses, r => r.StatusCode == HttpStatusCode.OK);
            var refused = Assert.Single(responses, r => r.StatusCode == HttpStatusCode.Forbidden);
            Assert.Equal("DraftLocked", (string?)(await refused.BodyAsync())["errors"]![0]!["meta"]!["code"]);
        }
    }

    [Fact]
    public async Task DraftState_Unlocked_HasTheRequiredFields_SinceCreationThenSinceRelease()
    {
        var project = await Client.NewProjectAsync();
        var created = await (await Client.PostAsync($"{V1}/{project}/datasets", Http.JsonApi("datasets", new JsonObject { ["name"] = "drafty" }))).ExpectAsync(HttpStatusCode.Created);
        var dataset = (string)created["data"]!["id"]!;
        var url = $"{V1}/{project}/datasets/{dataset}/draft_state";

        var free = await (await Client.GetAsync(url)).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(
            "{\"data\":{\"id\":\"" + dataset + "\",\"type\":\"draft_state_data\",\"attributes\":{\"drafting_since\":" +
            created["data"]!["attributes"]!["created_at"]!.ToJsonString() + ",\"user\":{\"id\":\"\"}}}}",
            free.ToJsonString());

        var locked = await (await Client.PatchAsync(url + "/lock", null)).ExpectAsync(HttpStatusCode.OK);
        var lockedSince = DateTimeOffset.Parse((string)locked["data"]!["attributes"]!["drafting_since"]!, CultureInfo.InvariantCulture);
        Assert.NotEqual("", (string?)locked["data"]!["attributes"]!["user"]!["id"]);
        await (await Client.PatchAsync(url + "/unlock", null)).ExpectAsync(HttpStatusCode.OK);
        var released = await (await Client.GetAsync(url)).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("""{"id":""}""", released["data"]!["attributes"]!["user"]!.ToJsonString());
        Assert.True(DateTimeOffset.Parse((string)released["data"]!["attributes"]!["drafting_since"]!, CultureInfo.InvariantCulture) >= lockedSince);
    }
}

public sealed class DatasetRaceTestsOnSqlite(SqliteServer fixture) : DatasetRaceTests(fixture), IClassFixture<SqliteServer>;

public sealed class DatasetRaceTestsOnPostgres(PostgresServer fixture) : DatasetRaceTests(fixture), IClassFixture<PostgresServer>;
