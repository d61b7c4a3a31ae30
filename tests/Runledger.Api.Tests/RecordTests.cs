using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Runledger.Api.Tests.Support;
using Runledger.Storage.Credentials;
using static Runledger.Api.Tests.Support.LlmObs;

namespace Runledger.Api.Tests;

public abstract class RecordTests(ServerFixture fixture)
{
    private TestServer Server => fixture.Server;
    private HttpClient Client => Server.Datadog;

    private static string Records(string project, string dataset) => $"{V1}/{project}/datasets/{dataset}/records";

    private async Task<(string Project, string Dataset)> NewDatasetAsync()
    {
        var project = await Client.NewProjectAsync();
        return (project, await Client.NewDatasetAsync(project));
    }

    private async Task<List<string>> ListIdsAsync(string project, string dataset, string query = "")
    {
        var body = await (await Client.GetAsync(Records(project, dataset) + query)).ExpectAsync(HttpStatusCode.OK);
        return body["data"]!.AsArray().Select(r => (string)r!["id"]!).ToList();
    }

    private async Task<long> CurrentVersionAsync(string project, string dataset)
    {
        var body = await (await Client.GetAsync($"{V1}/{project}/datasets?filter[id]={dataset}")).ExpectAsync(HttpStatusCode.OK);
        return (long)body["data"]![0]!["attributes"]!["current_version"]!;
    }

    [Fact]
    public async Task Append_201WithTheRecords_ListShowsThemNewestFirst()
    {
        var (project, dataset) = await NewDatasetAsync();
        var response = await Client.PostAsync(Records(project, dataset), Http.JsonApi("records", new JsonObject
        {
            ["records"] = new JsonArray(
                new JsonObject { ["input"] = new JsonObject { ["q"] = "2+2" }, ["expected_output"] = "4", ["metadata"] = new JsonObject { ["src"] = "math" } },
                new JsonObject { ["input"] = "plain text" }),
        }));
        var body = await response.ExpectAsync(HttpStatusCode.Created);
        var records = body["data"]![0]!["records"]!.AsArray();
        Assert.Equal(2, records.Count);
        var first = records[0]!;
        Assert.StartsWith("rec-", (string)first["id"]!);
        Assert.Equal(dataset, (string?)first["dataset_id"]);
        Assert.Equal("2+2", (string?)first["input"]!["q"]);
        Assert.Equal("4", (string?)first["expected_output"]);
        Assert.Equal("""{"src":"math"}""", first["metadata"]!.ToJsonString());
        Assert.NotNull(first["created_at"]);
        Assert.NotNull(first["updated_at"]);
        Assert.Null(records[1]!["expected_output"]);
        Assert.Null(records[1]!["metadata"]);
        Assert.Equal(1, await CurrentVersionAsync(project, dataset));

        var list = await (await Client.GetAsync(Records(project, dataset))).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(2, list["data"]!.AsArray().Count);
        Assert.Null((string?)list["meta"]!["after"]);
        Assert.Equal(["id", "dataset_id", "input", "expected_output", "metadata", "created_at", "updated_at"], list["data"]![0]!.AsObject().Select(p => p.Key));
    }

    [Fact]
    public async Task Append_Deduplicate_DefaultSkipsEqualInputs_FalseKeepsThem()
    {
        var (project, dataset) = await NewDatasetAsync();
        await Client.AppendAsync(project, dataset, 2);

        // Same inputs with keys in another order and spacing: equal canonical JSON, skipped.
        var again = await Client.PostAsync(Records(project, dataset), Http.Json("""
            {"data":{"type":"records","attributes":{"records":[{"input":{ "q" : "q0" }},{"input":{"q":"new"}},{"input":{"q":"new"}}]}}}
            """));
        var body = await again.ExpectAsync(HttpStatusCode.Created);
        Assert.Single(body["data"]![0]!["records"]!.AsArray());
        Assert.Equal(3, (await ListIdsAsync(project, dataset)).Count);

        var allSkipped = await Client.PostAsync(Records(project, dataset), Http.Json("""{"data":{"type":"records","attributes":{"records":[{"input":{"q":"q1"}}]}}}"""));
        Assert.Empty((await allSkipped.ExpectAsync(HttpStatusCode.OK))["data"]![0]!["records"]!.AsArray());
        Assert.Equal(2, await CurrentVersionAsync(project, dataset));

        var kept = await Client.PostAsync(Records(project, dataset), Http.Json("""{"data":{"type":"records","attributes":{"deduplicate":false,"records":[{"input":{"q":"q1"}}]}}}"""));
        await kept.ExpectAsync(HttpStatusCode.Created);
        Assert.Equal(4, (await ListIdsAsync(project, dataset)).Count);
    }

    [Fact]
    public async Task Versioning_AppendDeleteRestore_EveryVersionReadable()
    {
        var (project, dataset) = await NewDatasetAsync();
        var ids = await Client.AppendAsync(project, dataset, 3);
        Assert.Equal(1, await CurrentVersionAsync(project, dataset));

        await (await Client.PostAsync(Records(project, dataset) + "/delete", Delete("records", "record_ids", ids[0]))).ExpectAsync(HttpStatusCode.NoContent);
        Assert.Equal(2, await CurrentVersionAsync(project, dataset));
        Assert.DoesNotContain(ids[0], await ListIdsAsync(project, dataset));
        Assert.Contains(ids[0], await ListIdsAsync(project, dataset, "?filter%5Bversion%5D=1"));
        Assert.Empty(await ListIdsAsync(project, dataset, "?filter[version]=0"));

        var export = await Client.GetAsync($"{V1}/{project}/datasets/{dataset}/export?format=csv&version=1");
        Assert.Equal(HttpStatusCode.OK, export.StatusCode);
        Assert.Equal("text/csv", export.Content.Headers.ContentType!.MediaType);
        var csv = (await export.Content.ReadAsStringAsync()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("id,input,expected_output,metadata,tags", csv[0]);
        Assert.Equal(4, csv.Length);
        Assert.Contains($"{ids[0]},\"{{\"\"q\"\":\"\"q0\"\"}}\",a0,,", csv);

        // Restore v1 → v3 holds exactly v1's records.
        await (await Client.PostAsync($"{V1}/{project}/datasets/{dataset}/restore", Http.Json(
            $$$$"""{"data":{"id":"{{{{dataset}}}}","type":"datasets","attributes":{"dataset_version":1}}}"""))).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(3, await CurrentVersionAsync(project, dataset));
        var v1 = await (await Client.GetAsync(Records(project, dataset) + "?filter[version]=1")).ExpectAsync(HttpStatusCode.OK);
        var v3 = await (await Client.GetAsync(Records(project, dataset))).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(v1["data"]!.ToJsonString(), v3["data"]!.ToJsonString());
        Assert.Equal(2, (await ListIdsAsync(project, dataset, "?filter[version]=2")).Count);

        var versions = await (await Client.GetAsync($"{V1}/{project}/datasets/{dataset}/versions")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([0L, 1L, 2L, 3L], versions["data"]!.AsArray().Select(v => (long)v!["attributes"]!["version_number"]!));
        var version = versions["data"]![1]!;
        Assert.Equal("dataset_version", (string?)version["type"]);
        Assert.Equal(dataset, (string?)version["attributes"]!["dataset_id"]);
        Assert.True(version["attributes"]!.AsObject().ContainsKey("last_used"));
    }

    [Fact]
    public async Task Version_OutOfRange_400OnListExportRestore()
    {
        var (project, dataset) = await NewDatasetAsync();
        await Client.AppendAsync(project, dataset, 1);
        const string detail = "Version 5 does not exist; it must be between 0 and the current version of the dataset, 1, inclusive.";
        await (await Client.GetAsync(Records(project, dataset) + "?filter[version]=5"))
            .ExpectErrorAsync(HttpStatusCode.BadRequest, Error("400", "Bad Request", detail, "InvalidParameter", parameter: "filter[version]"));
        await (await Client.GetAsync($"{V1}/{project}/datasets/{dataset}/export?version=5"))
            .ExpectErrorAsync(HttpStatusCode.BadRequest, Error("400", "Bad Request", detail, "InvalidParameter", parameter: "version"));
        await (await Client.PostAsync($"{V1}/{project}/datasets/{dataset}/restore", Http.Json(
            $$$$"""{"data":{"id":"{{{{dataset}}}}","type":"datasets","attributes":{"dataset_version":5}}}""")))
            .ExpectErrorAsync(HttpStatusCode.BadRequest, Error("400", "Bad Request", detail, "InvalidRequest", jsonPointer: "/data/attributes/dataset_version"));
        Assert.Equal(1, await CurrentVersionAsync(project, dataset));
    }

    [Fact]
    public async Task Update_InputCreatesVersion_MetadataOnlyDoesNot()
    {
        var (project, dataset) = await NewDatasetAsync();
        var ids = await Client.AppendAsync(project, dataset, 2);
        var metadataOnly = await Client.PatchAsync(Records(project, dataset), Http.JsonApi("records", new JsonObject
        {
            ["records"] = new JsonArray(new JsonObject { ["id"] = ids[0], ["metadata"] = new JsonObject { ["k"] = "v" } }),
        }));
        var body = await metadataOnly.ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("""{"k":"v"}""", body["data"]![0]!["records"]![0]!["metadata"]!.ToJsonString());
        Assert.Equal(1, await CurrentVersionAsync(project, dataset));

        await (await Client.PatchAsync(Records(project, dataset), Http.JsonApi("records", new JsonObject
        {
            ["records"] = new JsonArray(new JsonObject { ["id"] = ids[1], ["input"] = "changed" }),
        }))).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(2, await CurrentVersionAsync(project, dataset));
        var v1 = await (await Client.GetAsync(Records(project, dataset) + "?filter[version]=1")).ExpectAsync(HttpStatusCode.OK);
        var v2 = await (await Client.GetAsync(Records(project, dataset))).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("""{"q":"q1"}""", v1["data"]!.AsArray().Single(r => (string)r!["id"]! == ids[1])!["input"]!.ToJsonString());
        Assert.Equal("\"changed\"", v2["data"]!.AsArray().Single(r => (string)r!["id"]! == ids[1])!["input"]!.ToJsonString());

        await (await Client.PatchAsync(Records(project, dataset), Http.JsonApi("records", new JsonObject
        {
            ["records"] = new JsonArray(new JsonObject { ["id"] = "rec-nope", ["input"] = "x" }),
        }))).ExpectErrorAsync(HttpStatusCode.BadRequest, Error("400", "Bad Request",
            "Item 0 updates a record that is not in the dataset's current version (unknown, deleted, or deleted by this same request); nothing was applied.",
            "InvalidRequest", jsonPointer: "/data/attributes/records/0/id"));
    }

    [Fact]
    public async Task BatchUpdate_InsertUpdateDeleteInOneVersion_WithTagOperations()
    {
        var (project, dataset) = await NewDatasetAsync();
        var ids = await Client.AppendAsync(project, dataset, 3);
        var response = await Client.PostAsync($"{V1}/{project}/datasets/{dataset}/batch_update", Http.Json($$$$"""
            {"data":{"id":"{{{{dataset}}}}","type":"datasets","attributes":{
              "insert_records":[{"id":"rec-mine","input":"new","tags":["a:1"]}],
              "update_records":[{"id":"{{{{ids[0]}}}}","expected_output":"fixed","tag_operations":{"add":["x","y"],"remove":["x"]}}],
              "delete_records":["{{{{ids[1]}}}}","rec-unknown"],
              "tags":["batch:1"]}}}
            """));
        var body = await response.ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(["rec-mine", ids[0]], body["data"]![0]!["records"]!.AsArray().Select(r => (string)r!["id"]!));
        Assert.Equal(2, await CurrentVersionAsync(project, dataset));
        var live = await ListIdsAsync(project, dataset);
        Assert.Equal(3, live.Count);
        Assert.DoesNotContain(ids[1], live);

        var csv = await (await Client.GetAsync($"{V1}/{project}/datasets/{dataset}/export")).Content.ReadAsStringAsync();
        Assert.Contains("rec-mine,new,,,\"a:1,batch:1\"", csv);
        Assert.Contains($"{ids[0]},\"{{\"\"q\"\":\"\"q0\"\"}}\",fixed,,\"x,y\"", csv);

        // create_new_version=false changes the current version in place.
        await (await Client.PostAsync($"{V1}/{project}/datasets/{dataset}/batch_update", Http.Json($$$$"""
            {"data":{"id":"{{{{dataset}}}}","type":"datasets","attributes":{"create_new_version":false,"delete_records":["rec-mine"]}}}
            """))).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(2, await CurrentVersionAsync(project, dataset));
        Assert.DoesNotContain("rec-mine", await ListIdsAsync(project, dataset));
    }

    [Fact]
    public async Task BatchUpdate_OneBadItem_400AndNothingApplied()
    {
        var (project, dataset) = await NewDatasetAsync();
        var ids = await Client.AppendAsync(project, dataset, 2);
        var response = await Client.PostAsync($"{V1}/{project}/datasets/{dataset}/batch_update", Http.Json($$$$"""
            {"data":{"id":"{{{{dataset}}}}","type":"datasets","attributes":{
              "insert_records":[{"input":"ok"}],
              "delete_records":["{{{{ids[0]}}}}"],
              "update_records":[{"id":"{{{{ids[1]}}}}","input":"fine"},{"id":"rec-missing","input":"x"}]}}}
            """));
        await response.ExpectErrorAsync(HttpStatusCode.BadRequest, Error("400", "Bad Request",
            "Item 1 updates a record that is not in the dataset's current version (unknown, deleted, or deleted by this same request); nothing was applied.",
            "InvalidRequest", jsonPointer: "/data/attributes/update_records/1/id"));
        var invalid = await Client.PostAsync($"{V1}/{project}/datasets/{dataset}/batch_update", Http.Json($$$$"""
            {"data":{"id":"{{{{dataset}}}}","type":"datasets","attributes":{"insert_records":[{"input":"ok"},{"expected_output":"no input"}]}}}
            """));
        await invalid.ExpectErrorAsync(HttpStatusCode.BadRequest, Error("400", "Bad Request", "'input' is required (any JSON value but null).", "InvalidRequest", jsonPointer: "/data/attributes/insert_records/1/input"));
        Assert.Equal(1, await CurrentVersionAsync(project, dataset));
        Assert.Equal(2, await Server.CountAsync("SELECT COUNT(*) FROM llm_records WHERE dataset_id = @dataset", new { dataset }));
    }

    [Fact]
    public async Task BatchUpdate_OverTheLimit_413()
    {
        var (project, dataset) = await NewDatasetAsync();
        var inserts = new JsonArray();
        for (var i = 0; i < 11; i++)
        {
            inserts.Add(new JsonObject { ["input"] = i });
        }

        var response = await Client.PostAsync($"{V1}/{project}/datasets/{dataset}/batch_update", Http.Json(
            new JsonObject { ["data"] = new JsonObject { ["id"] = dataset, ["type"] = "datasets", ["attributes"] = new JsonObject { ["insert_records"] = inserts } } }.ToJsonString()));
        await response.ExpectErrorAsync(HttpStatusCode.RequestEntityTooLarge, Error("413", "Payload Too Large",
            "'insert_records' has 11 records; the limit is 10 per request (Datasets:MaxBatchItems). Send smaller batches.", "TooManyItems", jsonPointer: "/data/attributes/insert_records"));
        Assert.Equal(0, await Server.CountAsync("SELECT COUNT(*) FROM llm_records WHERE dataset_id = @dataset", new { dataset }));
    }

    [Fact]
    public async Task RecordsDelete_IdempotentUnknownAndForeignIdsIgnored_AuditWritten()
    {
        var (project, dataset) = await NewDatasetAsync();
        var ids = await Client.AppendAsync(project, dataset, 3);
        var (otherProject, otherDataset) = await NewDatasetAsync();
        var sameProjectDataset = await Client.NewDatasetAsync(project);
        var foreign = await Client.AppendAsync(otherProject, otherDataset, 1, "f");
        var sibling = await Client.AppendAsync(project, sameProjectDataset, 1, "s");

        var url = Records(project, dataset) + "/delete";
        var deleted = await Client.PostAsync(url, Delete("records", "record_ids", ids[0], "rec-unknown", foreign[0], sibling[0]));
        await deleted.ExpectAsync(HttpStatusCode.NoContent);
        var job = await Server.WaitForJobAsync(deleted.JobId());
        Assert.Equal("llm_records", (string?)job["kind"]);
        Assert.Equal(dataset, (string?)job["targetId"]);
        Assert.Equal(2, await CurrentVersionAsync(project, dataset));
        Assert.Equal(1, await Server.CountAsync("SELECT COUNT(*) FROM llm_records WHERE dataset_id = @otherDataset AND version_to IS NULL", new { otherDataset }));
        Assert.Equal(1, await Server.CountAsync("SELECT COUNT(*) FROM llm_records WHERE dataset_id = @sameProjectDataset AND version_to IS NULL", new { sameProjectDataset }));

        // Again: nothing live among the ids, so no new version and no job.
        var again = await Client.PostAsync(url, Delete("records", "record_ids", ids[0]));
        await again.ExpectAsync(HttpStatusCode.NoContent);
        Assert.False(again.Headers.Contains("Runledger-Deletion-Job"));
        Assert.Equal(2, await CurrentVersionAsync(project, dataset));
        Assert.Equal(2, (await ListIdsAsync(project, dataset)).Count);

        var audit = await (await Server.Admin.GetAsync($"/runledger/v1/audit?targetKind=llm_records&targetId={dataset}")).ExpectAsync(HttpStatusCode.OK);
        var entry = Assert.Single(audit["entries"]!.AsArray())!;
        Assert.Equal("deletion.requested", (string?)entry["action"]);
        Assert.Equal("""{"llm_records":1}""", entry["counts"]!.ToJsonString());
    }

    [Fact]
    public async Task RecordsDelete_UnknownDatasetOrProject_404()
    {
        var (project, dataset) = await NewDatasetAsync();
        var ids = await Client.AppendAsync(project, dataset, 1);
        var (otherProject, _) = await NewDatasetAsync();
        await (await Client.PostAsync(Records(project, "nope") + "/delete", Delete("records", "record_ids", ids[0])))
            .ExpectErrorAsync(HttpStatusCode.NotFound, Error("404", "Not Found", "Dataset 'nope' does not exist in this project.", "DatasetNotFound", parameter: "dataset_id"));
        await (await Client.PostAsync(Records("nope", dataset) + "/delete", Delete("records", "record_ids", ids[0])))
            .ExpectErrorAsync(HttpStatusCode.NotFound, Error("404", "Not Found", "Project 'nope' does not exist.", "ProjectNotFound", parameter: "project_id"));

        // The dataset under another project of the same organisation is not found either.
        await (await Client.PostAsync(Records(otherProject, dataset) + "/delete", Delete("records", "record_ids", ids[0])))
            .ExpectErrorAsync(HttpStatusCode.NotFound, Error("404", "Not Found", $"Dataset '{dataset}' does not exist in this project.", "DatasetNotFound", parameter: "dataset_id"));
        Assert.Equal(1, await Server.CountAsync("SELECT COUNT(*) FROM llm_records WHERE dataset_id = @dataset AND version_to IS NULL", new { dataset }));
    }

    [Fact]
    public async Task RecordsDelete_EmptyWrongTypeOrTooMany_400NothingChanges()
    {
        var (project, dataset) = await NewDatasetAsync();
        var ids = await Client.AppendAsync(project, dataset, 1);
        var url = Records(project, dataset) + "/delete";
        await (await Client.PostAsync(url, Delete("records", "record_ids")))
            .ExpectErrorAsync(HttpStatusCode.BadRequest, Error("400", "Bad Request", "'record_ids' is empty; name 1 to 1000 ids.", "InvalidRequest", jsonPointer: "/data/attributes/record_ids"));
        await (await Client.PostAsync(url, Delete("datasets", "record_ids", ids[0])))
            .ExpectErrorAsync(HttpStatusCode.BadRequest, Error("400", "Bad Request", "'data.type' must be \"records\".", "InvalidRequest", jsonPointer: "/data/type"));
        var tooMany = Enumerable.Range(0, 1001).Select(i => "rec-" + i).Prepend(ids[0]).ToArray();
        await (await Client.PostAsync(url, Delete("records", "record_ids", tooMany)))
            .ExpectErrorAsync(HttpStatusCode.BadRequest, Error("400", "Bad Request", "'record_ids' has 1002 ids; the limit is 1000 per request (Datasets:MaxDeleteIds).", "InvalidRequest", jsonPointer: "/data/attributes/record_ids"));
        await (await Client.PostAsync(url, Http.Json("""{"data":{"type":"records","attributes":{"record_ids":[7]}}}""")))
            .ExpectErrorAsync(HttpStatusCode.BadRequest, Error("400", "Bad Request", "'record_ids[0]' must be a non-empty string.", "InvalidRequest", jsonPointer: "/data/attributes/record_ids/0"));
        Assert.Equal(1, await CurrentVersionAsync(project, dataset));
        Assert.Equal(1, await Server.CountAsync("SELECT COUNT(*) FROM llm_records WHERE dataset_id = @dataset AND version_to IS NULL", new { dataset }));
    }

    [Fact]
    public async Task List_CursorPaging_NewestFirst()
    {
        var (project, dataset) = await NewDatasetAsync();
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            ids.AddRange(await Client.AppendAsync(project, dataset, 1, "p" + i));
        }

        var seen = new List<JsonNode>();
        var url = Records(project, dataset) + "?page%5Blimit%5D=2";
        string? after;
        do
        {
            var page = await (await Client.GetAsync(url)).ExpectAsync(HttpStatusCode.OK);
            seen.AddRange(page["data"]!.AsArray().Select(p => p!));
            after = (string?)page["meta"]!["after"];
            url = Records(project, dataset) + $"?page%5Blimit%5D=2&page%5Bcursor%5D={after}";
        }
        while (after is not null);

        NewestFirst.AssertOrder(ids, seen);
    }

    [Fact]
    public async Task Clone_CopiesCurrentRecordsAtVersion0()
    {
        var (project, dataset) = await NewDatasetAsync();
        var ids = await Client.AppendAsync(project, dataset, 3);
        await (await Client.PostAsync(Records(project, dataset) + "/delete", Delete("records", "record_ids", ids[2]))).ExpectAsync(HttpStatusCode.NoContent);
        var body = await (await Client.PostAsync($"{V1}/{project}/datasets/{dataset}/clone", Http.Json(
            $$$$"""{"data":{"id":"{{{{dataset}}}}","type":"datasets","attributes":{"name":"the clone","description":"copy"}}}"""))).ExpectAsync(HttpStatusCode.OK);
        var clone = (string)body["data"]!["id"]!;
        Assert.NotEqual(dataset, clone);
        Assert.Equal("the clone", (string?)body["data"]!["attributes"]!["name"]);
        Assert.Equal(0, (long)body["data"]!["attributes"]!["current_version"]!);
        Assert.Equal(ids.Take(2).Order(), (await ListIdsAsync(project, clone)).Order());

        await (await Client.PostAsync($"{V1}/{project}/datasets/{dataset}/clone", Http.Json(
            $$$$"""{"data":{"id":"{{{{dataset}}}}","type":"datasets","attributes":{"name":"the clone"}}}""")))
            .ExpectErrorAsync(HttpStatusCode.BadRequest, Error("400", "Bad Request", "A dataset named 'the clone' already exists in this project (or is still being deleted); choose another name.", "InvalidRequest", jsonPointer: "/data/attributes/name"));
    }

    [Fact]
    public async Task UpdateDataset_NameDescriptionMetadata()
    {
        var (project, dataset) = await NewDatasetAsync();
        var body = await (await Client.PatchAsync($"{V1}/{project}/datasets/{dataset}", Http.JsonApi("datasets", new JsonObject
        {
            ["name"] = "renamed",
            ["description"] = "d",
            ["metadata"] = new JsonObject { ["v"] = 2 },
        }))).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("renamed", (string?)body["data"]!["attributes"]!["name"]);
        Assert.Equal("d", (string?)body["data"]!["attributes"]!["description"]);
        Assert.Equal("""{"v":2}""", body["data"]!["attributes"]!["metadata"]!.ToJsonString());
        await (await Client.PatchAsync($"{V1}/{project}/datasets/nope", Http.JsonApi("datasets", new JsonObject { ["name"] = "x" })))
            .ExpectErrorAsync(HttpStatusCode.NotFound, Error("404", "Not Found", "Dataset 'nope' does not exist in this project.", "DatasetNotFound", parameter: "dataset_id"));
    }

    [Fact]
    public async Task DraftState_LockByTwoKeys_SecondRefused_UnlockOnlyByHolder()
    {
        var (project, dataset) = await NewDatasetAsync();
        var url = $"{V1}/{project}/datasets/{dataset}/draft_state";
        var free = await (await Client.GetAsync(url)).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("draft_state_data", (string?)free["data"]!["type"]);
        Assert.Equal(dataset, (string?)free["data"]!["id"]);
        Assert.Equal("""{"id":""}""", free["data"]!["attributes"]!["user"]!.ToJsonString());
        Assert.NotNull((string?)free["data"]!["attributes"]!["drafting_since"]);

        var locked = await (await Client.PatchAsync(url + "/lock", null)).ExpectAsync(HttpStatusCode.OK);
        var holder = (string)locked["data"]!["attributes"]!["user"]!["id"]!;
        Assert.NotNull(locked["data"]!["attributes"]!["drafting_since"]);

        using var second = Server.NewDatadogClient(TestCredentials.DatadogApiKey, await Server.AddCredentialAsync(CredentialKinds.DatadogAppKey, "read write"));
        // A lock or unlock by another user is refused as every other write the lock refuses: 403 DraftLocked.
        var since = DateTimeOffset.Parse((string)locked["data"]!["attributes"]!["drafting_since"]!, CultureInfo.InvariantCulture)
            .ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
        var refusal = Error("403", "Forbidden",
            $"The draft of dataset '{dataset}' is locked by '{(string)locked["data"]!["attributes"]!["user"]!["name"]!}' (user id '{holder}') since {since}; " +
            "only the holder can change the dataset or its records until they unlock it (PATCH …/draft_state/unlock). Nothing was changed.", "DraftLocked");
        await (await second.PatchAsync(url + "/lock", null)).ExpectErrorAsync(HttpStatusCode.Forbidden, refusal);
        await (await second.PatchAsync(url + "/unlock", null)).ExpectErrorAsync(HttpStatusCode.Forbidden, refusal);
        Assert.Equal(1, await Server.CountAsync("SELECT COUNT(*) FROM llm_datasets WHERE id = @dataset AND draft_user_id = @holder", new { dataset, holder }));

        await (await Client.PatchAsync(url + "/unlock", null)).ExpectAsync(HttpStatusCode.OK);
        var now = await (await second.PatchAsync(url + "/lock", null)).ExpectAsync(HttpStatusCode.OK);
        Assert.NotEqual(holder, (string?)now["data"]!["attributes"]!["user"]!["id"]);
    }

    [Fact]
    public async Task Upload_Csv_StreamsProgressAndCompleted_OverwriteById()
    {
        var (project, dataset) = await NewDatasetAsync();
        var csv = "id,input,expected_output,metadata,tags\r\n" +
            "r1,\"{\"\"q\"\":1}\",one,\"{\"\"m\"\":true}\",\"a,b\"\r\n" +
            "r2,\"multi\nline, with comma\",,,\r\n" +
            ",plain,x,,\r\n";
        var events = await UploadAsync(project, dataset, csv, "?tags=env:test");
        Assert.Contains("event: progress", events);
        Assert.Contains("event: completed\ndata: {\"records_created\":3}", events);
        Assert.Equal(1, await CurrentVersionAsync(project, dataset));
        var list = await (await Client.GetAsync(Records(project, dataset))).ExpectAsync(HttpStatusCode.OK);
        var r2 = list["data"]!.AsArray().Single(r => (string)r!["id"]! == "r2")!;
        Assert.Equal("\"multi\\nline, with comma\"", r2["input"]!.ToJsonString());
        var r1 = list["data"]!.AsArray().Single(r => (string)r!["id"]! == "r1")!;
        Assert.Equal("""{"q":1}""", r1["input"]!.ToJsonString());

        // overwrite (default true): the same id replaces the record, which is not a created one.
        var again = await UploadAsync(project, dataset, "id,input\r\nr1,replaced\r\n", "");
        Assert.Contains("event: completed\ndata: {\"records_created\":0}", again);
        list = await (await Client.GetAsync(Records(project, dataset))).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(3, list["data"]!.AsArray().Count);
        Assert.Equal("\"replaced\"", list["data"]!.AsArray().Single(r => (string)r!["id"]! == "r1")!["input"]!.ToJsonString());

        var bad = await UploadAsync(project, dataset, "question\r\nx\r\n", "");
        Assert.Contains("event: error\ndata: {\"message\":\"The CSV has no 'input' column", bad);
        var unclosed = await UploadAsync(project, dataset, "input\r\n\"never closed\r\n", "");
        Assert.Contains("event: error\ndata: {\"message\":\"Line 2: a quoted field is not closed before the end of the file. Nothing was written.\"}", unclosed);
        Assert.Equal(2, await CurrentVersionAsync(project, dataset));
    }

    private async Task<string> UploadAsync(string project, string dataset, string csv, string query)
    {
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(Encoding.UTF8.GetBytes(csv));
        file.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
        form.Add(file, "file", "records.csv");
        var response = await Client.PostAsync($"/api/v2/llm-obs/v2/{project}/datasets/{dataset}/records/upload{query}", form);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        return await response.Content.ReadAsStringAsync();
    }

    [Fact]
    public async Task ReadOnlyKey_EveryWrite_403()
    {
        var (project, dataset) = await NewDatasetAsync();
        using var reader = Server.NewDatadogClient(TestCredentials.DatadogApiKey, await Server.AddCredentialAsync(CredentialKinds.DatadogAppKey, "read"));
        var d = $"{V1}/{project}/datasets/{dataset}";
        var writes = new (HttpMethod Method, string Url)[]
        {
            (HttpMethod.Post, $"{V1}/projects/delete"),
            (HttpMethod.Post, $"{V1}/{project}/datasets"),
            (HttpMethod.Patch, d),
            (HttpMethod.Post, $"{V1}/{project}/datasets/delete"),
            (HttpMethod.Post, d + "/clone"),
            (HttpMethod.Post, d + "/restore"),
            (HttpMethod.Patch, d + "/draft_state/lock"),
            (HttpMethod.Patch, d + "/draft_state/unlock"),
            (HttpMethod.Post, d + "/records"),
            (HttpMethod.Patch, d + "/records"),
            (HttpMethod.Post, d + "/records/delete"),
            (HttpMethod.Post, d + "/batch_update"),
            (HttpMethod.Post, $"/api/v2/llm-obs/v2/{project}/datasets/{dataset}/records/upload"),
        };
        foreach (var (method, url) in writes)
        {
            var response = await reader.SendAsync(new HttpRequestMessage(method, url) { Content = Http.Json("{}") });
            var body = await response.ExpectAsync(HttpStatusCode.Forbidden);
            Assert.Equal("403", (string?)body["errors"]![0]!["status"]);
        }

        await (await reader.GetAsync(Records(project, dataset))).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(1, await Server.CountAsync("SELECT COUNT(*) FROM llm_datasets WHERE project_id = @project", new { project }));
    }
}

public sealed class RecordServer() : ServerFixture(Provider.Sqlite)
{
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?> { ["Datasets:MaxBatchItems"] = "10", ["Datasets:UploadBatchSize"] = "2" };
}

public sealed class PostgresRecordServer() : ServerFixture(Provider.Postgres)
{
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?> { ["Datasets:MaxBatchItems"] = "10", ["Datasets:UploadBatchSize"] = "2" };
}

public sealed class RecordTestsOnSqlite(RecordServer fixture) : RecordTests(fixture), IClassFixture<RecordServer>;

public sealed class RecordTestsOnPostgres(PostgresRecordServer fixture) : RecordTests(fixture), IClassFixture<PostgresRecordServer>;
