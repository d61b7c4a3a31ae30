using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Dapper;
using Runledger.Api.Tests.Support;
using Runledger.Storage;
using Runledger.Storage.Credentials;
using static Runledger.Api.Tests.Support.LlmObs;

namespace Runledger.Api.Tests;

/// <summary>
/// Record writes: duplicate ids, atomicity when the database fails after some statements ran, the
/// combined 413, the atomic CSV upload, deletes through the lifecycle (legal holds, the deletion
/// job and its audit entry) and the draft lock. The server has MaxBatchItems 10 and UploadBatchSize 2.
/// </summary>
public abstract class RecordWriteTests(ServerFixture fixture)
{
    private TestServer Server => fixture.Server;
    private HttpClient Client => Server.Datadog;

    private static string Records(string project, string dataset) => $"{V1}/{project}/datasets/{dataset}/records";

    private static string BatchUpdate(string project, string dataset) => $"{V1}/{project}/datasets/{dataset}/batch_update";

    private async Task<(string Project, string Dataset)> NewDatasetAsync()
    {
        var project = await Client.NewProjectAsync();
        return (project, await Client.NewDatasetAsync(project));
    }

    private async Task<long> CurrentVersionAsync(string project, string dataset)
    {
        var body = await (await Client.GetAsync($"{V1}/{project}/datasets?filter[id]={dataset}")).ExpectAsync(HttpStatusCode.OK);
        return (long)body["data"]![0]!["attributes"]!["current_version"]!;
    }

    /// <summary>Every row the store holds for the dataset (all versions), as text: what "nothing changed" compares.</summary>
    private async Task<string> SnapshotAsync(string dataset)
    {
        await using var connection = await Server.Service<IDatabase>().OpenAsync(CancellationToken.None);
        var rows = await connection.QueryAsync<(string Id, long From, long? To, string Input, string? Expected, string? Metadata, string? Tags)>(
            "SELECT id, version_from, version_to, input, expected_output, metadata, tags FROM llm_records WHERE dataset_id = @dataset ORDER BY id, version_from",
            new { dataset });
        var version = await connection.ExecuteScalarAsync<long>("SELECT current_version FROM llm_datasets WHERE id = @dataset", new { dataset });
        var versions = await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM llm_dataset_versions WHERE dataset_id = @dataset", new { dataset });
        return $"v{version}/{versions}: " + string.Join(" | ", rows.Select(r => $"{r.Id}[{r.From},{r.To}) {r.Input} {r.Expected} {r.Metadata} {r.Tags}"));
    }

    [Fact]
    public async Task DuplicateIds_InUpdatesOrBatchDeletes_400AtTheSecondOne_NothingApplied()
    {
        var (project, dataset) = await NewDatasetAsync();
        var ids = await Client.AppendAsync(project, dataset, 3);
        var before = await SnapshotAsync(dataset);

        await (await Client.PatchAsync(Records(project, dataset), Http.Json($$$$"""
            {"data":{"type":"records","attributes":{"records":[{"id":"{{{{ids[0]}}}}","input":"a"},{"id":"{{{{ids[1]}}}}","input":"b"},{"id":"{{{{ids[0]}}}}","input":"c"}]}}}
            """))).ExpectErrorAsync(HttpStatusCode.BadRequest, Error("400", "Bad Request",
            $"Item 2 names record '{ids[0]}' again (first at item 0); each record id may appear once per list. Nothing was applied.",
            "InvalidRequest", jsonPointer: "/data/attributes/records/2/id"));

        await (await Client.PostAsync(BatchUpdate(project, dataset), Http.Json($$$$"""
            {"data":{"id":"{{{{dataset}}}}","type":"datasets","attributes":{"update_records":[{"id":"{{{{ids[1]}}}}","expected_output":"x"},{"id":"{{{{ids[1]}}}}","expected_output":"y"}]}}}
            """))).ExpectErrorAsync(HttpStatusCode.BadRequest, Error("400", "Bad Request",
            $"Item 1 names record '{ids[1]}' again (first at item 0); each record id may appear once per list. Nothing was applied.",
            "InvalidRequest", jsonPointer: "/data/attributes/update_records/1/id"));

        await (await Client.PostAsync(BatchUpdate(project, dataset), Http.Json($$$$"""
            {"data":{"id":"{{{{dataset}}}}","type":"datasets","attributes":{"insert_records":[{"input":"new"}],"delete_records":["{{{{ids[2]}}}}","{{{{ids[0]}}}}","{{{{ids[2]}}}}"]}}}
            """))).ExpectErrorAsync(HttpStatusCode.BadRequest, Error("400", "Bad Request",
            $"Item 2 names record '{ids[2]}' again (first at item 0); each record id may appear once per list. Nothing was applied.",
            "InvalidRequest", jsonPointer: "/data/attributes/delete_records/2"));

        Assert.Equal(before, await SnapshotAsync(dataset));

        // records/delete, like the other three delete endpoints, takes an id list as a set: a
        // repeated id is deleted (and counted) once.
        var deleted = await Client.PostAsync(Records(project, dataset) + "/delete", Delete("records", "record_ids", ids[0], ids[0]));
        await deleted.ExpectAsync(HttpStatusCode.NoContent);
        var audit = await (await Server.Admin.GetAsync($"/runledger/v1/audit?jobId={deleted.JobId()}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("""{"llm_records":1}""", Assert.Single(audit["entries"]!.AsArray())!["counts"]!.ToJsonString());
    }

    [Fact]
    public async Task BatchUpdate_DatabaseFailsAfterDeletesAndUpdatesRan_EverythingRolledBack()
    {
        var (project, dataset) = await NewDatasetAsync();
        var ids = await Client.AppendAsync(project, dataset, 3);
        var before = await SnapshotAsync(dataset);

        // The closing UPDATE (delete and input change) and the removal run before the INSERT the
        // database refuses; the rollback must take them back.
        await using (await FailingInsert.InstallAsync(Server, dataset))
        {
            var response = await Client.PostAsync(BatchUpdate(project, dataset), Http.Json($$$$"""
                {"data":{"id":"{{{{dataset}}}}","type":"datasets","attributes":{
                  "delete_records":["{{{{ids[0]}}}}"],
                  "update_records":[{"id":"{{{{ids[1]}}}}","input":"changed"}],
                  "insert_records":[{"input":"fine"},{"input":"boom"}]}}}
                """));
            var body = await response.ExpectAsync(HttpStatusCode.InternalServerError);
            Assert.Equal("500", (string?)body["errors"]![0]!["status"]);
        }

        Assert.Equal(before, await SnapshotAsync(dataset));
        Assert.Equal(0, await Server.CountAsync("SELECT COUNT(*) FROM deletion_jobs WHERE kind = 'llm_records' AND target_id = @dataset", new { dataset }));
        Assert.Equal(0, await Server.CountAsync("SELECT COUNT(*) FROM audit_log WHERE target_id = @dataset", new { dataset }));

        // The same batch without the bad row applies whole.
        await (await Client.PostAsync(BatchUpdate(project, dataset), Http.Json($$$$"""
            {"data":{"id":"{{{{dataset}}}}","type":"datasets","attributes":{
              "delete_records":["{{{{ids[0]}}}}"],"update_records":[{"id":"{{{{ids[1]}}}}","input":"changed"}],"insert_records":[{"input":"fine"}]}}}
            """))).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(2, await CurrentVersionAsync(project, dataset));
        Assert.Equal(3, await Server.CountAsync("SELECT COUNT(*) FROM llm_records WHERE dataset_id = @dataset AND version_to IS NULL", new { dataset }));
    }

    [Fact]
    public async Task BatchUpdate_EachListUnderTheLimitButTogetherOver_413NothingApplied()
    {
        var (project, dataset) = await NewDatasetAsync();
        var ids = await Client.AppendAsync(project, dataset, 4);
        var before = await SnapshotAsync(dataset);
        var inserts = new JsonArray(Enumerable.Range(0, 4).Select(i => (JsonNode?)new JsonObject { ["input"] = "n" + i }).ToArray());
        var updates = new JsonArray(ids.Select(id => (JsonNode?)new JsonObject { ["id"] = id, ["expected_output"] = "u" }).ToArray());
        var deletes = new JsonArray(ids.Take(3).Select(id => (JsonNode?)JsonValue.Create(id)).ToArray());
        var response = await Client.PostAsync(BatchUpdate(project, dataset), Http.Json(new JsonObject
        {
            ["data"] = new JsonObject
            {
                ["id"] = dataset,
                ["type"] = "datasets",
                ["attributes"] = new JsonObject { ["insert_records"] = inserts, ["update_records"] = updates, ["delete_records"] = deletes },
            },
        }.ToJsonString()));
        await response.ExpectErrorAsync(HttpStatusCode.RequestEntityTooLarge, Error("413", "Payload Too Large",
            "The batch has 11 record items (insert_records + update_records + delete_records); the limit is 10 per request (Datasets:MaxBatchItems). Send smaller batches.",
            "TooManyItems", jsonPointer: "/data/attributes"));
        Assert.Equal(before, await SnapshotAsync(dataset));
    }

    [Fact]
    public async Task Upload_ProgressAfterEveryBatch_ThenCompleted()
    {
        var (project, dataset) = await NewDatasetAsync();
        var events = await UploadAsync(project, dataset, "input\r\na\r\nb\r\nc\r\nd\r\ne\r\n", "");
        Assert.Equal(
            "event: progress\ndata: {\"records_processed\":2,\"records_created\":2}\n\n" +
            "event: progress\ndata: {\"records_processed\":4,\"records_created\":4}\n\n" +
            "event: progress\ndata: {\"records_processed\":5,\"records_created\":5}\n\n" +
            "event: completed\ndata: {\"records_created\":5}\n\n",
            events);

        // One version for the whole upload.
        Assert.Equal(1, await CurrentVersionAsync(project, dataset));
        Assert.Equal(5, await Server.CountAsync("SELECT COUNT(*) FROM llm_records WHERE dataset_id = @dataset AND version_from = 1 AND version_to IS NULL", new { dataset }));
    }

    [Fact]
    public async Task Upload_BadRowLate_ErrorEventAndNothingWritten()
    {
        var (project, dataset) = await NewDatasetAsync();
        var events = await UploadAsync(project, dataset, "input,metadata\r\na,\r\nb,\r\nc,\r\nd,not-json\r\ne,\r\n", "");
        Assert.Equal("event: error\ndata: {\"message\":\"Line 5: 'metadata' must be a JSON object. Nothing was written.\"}\n\n", events);
        Assert.Equal(0, await CurrentVersionAsync(project, dataset));
        Assert.Equal(0, await Server.CountAsync("SELECT COUNT(*) FROM llm_records WHERE dataset_id = @dataset", new { dataset }));
    }

    [Fact]
    public async Task Upload_DatabaseFailsAfterTheFirstBatch_ErrorEventAndNothingWritten()
    {
        var (project, dataset) = await NewDatasetAsync();
        await Client.AppendAsync(project, dataset, 1);
        var before = await SnapshotAsync(dataset);
        string events;
        await using (await FailingInsert.InstallAsync(Server, dataset))
        {
            events = await UploadAsync(project, dataset, "input\r\na\r\nb\r\nc\r\nboom\r\ne\r\n", "");
        }

        Assert.StartsWith("event: progress\ndata: {\"records_processed\":2,\"records_created\":2}\n\n", events);
        Assert.EndsWith("event: error\ndata: {\"message\":\"The records could not be stored (" + FailingInsert.ExceptionName(Server) + "); the upload was rolled back. Nothing was written.\"}\n\n", events);
        Assert.DoesNotContain("event: completed", events);
        Assert.Equal(before, await SnapshotAsync(dataset));
    }

    [Fact]
    public async Task Upload_OverwriteById_NotCountedAsCreated_TagsReplaced()
    {
        var (project, dataset) = await NewDatasetAsync();
        await UploadAsync(project, dataset, "id,input,tags\r\nr1,one,\"a,b\"\r\nr2,two,\r\n", "");
        var events = await UploadAsync(project, dataset, "id,input,tags\r\nr1,uno,c\r\nr3,three,\r\n", "");
        Assert.Equal(
            "event: progress\ndata: {\"records_processed\":2,\"records_created\":1}\n\n" +
            "event: completed\ndata: {\"records_created\":1}\n\n",
            events);
        Assert.Equal(2, await CurrentVersionAsync(project, dataset));
        var csv = await (await Client.GetAsync($"{V1}/{project}/datasets/{dataset}/export")).Content.ReadAsStringAsync();
        Assert.Contains("\r\nr1,uno,,,c\r\n", csv);
        Assert.Contains("\r\nr2,two,,,\r\n", csv);
        Assert.Contains("\r\nr3,three,,,\r\n", csv);

        // overwrite=false skips known ids: nothing created, no new version.
        var skipped = await UploadAsync(project, dataset, "id,input\r\nr1,ignored\r\n", "?overwrite=false");
        Assert.EndsWith("event: completed\ndata: {\"records_created\":0}\n\n", skipped);
        Assert.Equal(2, await CurrentVersionAsync(project, dataset));
    }

    [Fact]
    public async Task Upload_NotMultipart_400NothingWritten()
    {
        var (project, dataset) = await NewDatasetAsync();
        var response = await Client.PostAsync($"/api/v2/llm-obs/v2/{project}/datasets/{dataset}/records/upload", new StringContent("input\r\nx\r\n", Encoding.UTF8, "text/csv"));
        var body = await response.ExpectAsync(HttpStatusCode.BadRequest);
        Http.AssertJson(
            """{"errors":[{"status":"400","title":"Bad Request","detail":"Send the CSV as multipart/form-data with one part named 'file'.","source":{"header":"Content-Type"},"meta":{"code":"InvalidRequest","request_id":"{requestId}"}}]}""",
            body, response.RequestId());
        Assert.Equal(0, await Server.CountAsync("SELECT COUNT(*) FROM llm_records WHERE dataset_id = @dataset", new { dataset }));
    }

    [Fact]
    public async Task RecordDeletes_DatasetOrProjectUnderLegalHold_403NamingTheHold_NothingChanged()
    {
        var (project, dataset) = await NewDatasetAsync();
        var ids = await Client.AppendAsync(project, dataset, 2);
        var before = await SnapshotAsync(dataset);
        var url = Records(project, dataset) + "/delete";

        foreach (var (kind, id) in new[] { ("llm_dataset", dataset), ("llm_project", project) })
        {
            await PlaceHoldAsync(kind, id, "case 42");
            var detail = $"Records of dataset '{dataset}' cannot be deleted: the {kind} '{id}' is under legal hold (reason: case 42); " +
                $"clear the hold with DELETE /runledger/v1/holds/{kind}/{id} before deleting. Nothing was applied.";
            var refused = await Client.PostAsync(url, Delete("records", "record_ids", ids[0]));
            await refused.ExpectErrorAsync(HttpStatusCode.Forbidden, Error("403", "Forbidden", detail, "LegalHold"));
            Assert.False(refused.Headers.Contains("Runledger-Deletion-Job"));
            await (await Client.PostAsync(BatchUpdate(project, dataset), Http.Json($$$$"""
                {"data":{"id":"{{{{dataset}}}}","type":"datasets","attributes":{"insert_records":[{"input":"x"}],"delete_records":["{{{{ids[1]}}}}"]}}}
                """))).ExpectErrorAsync(HttpStatusCode.Forbidden, Error("403", "Forbidden", detail, "LegalHold"));
            Assert.Equal(before, await SnapshotAsync(dataset));
            await (await Server.Admin.DeleteAsync($"/runledger/v1/holds/{kind}/{id}?scope=default")).ExpectAsync(HttpStatusCode.NoContent);
        }

        var audit = await (await Server.Admin.GetAsync($"/runledger/v1/audit?targetKind=llm_records&targetId={dataset}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(["deletion.refused", "deletion.refused", "deletion.refused", "deletion.refused"], audit["entries"]!.AsArray().Select(e => (string?)e!["action"]));

        // Without the hold: a finished llm_records job, its audit entry with the count, the header.
        var deleted = await Client.PostAsync(BatchUpdate(project, dataset), Http.Json($$$$"""
            {"data":{"id":"{{{{dataset}}}}","type":"datasets","attributes":{"delete_records":["{{{{ids[0]}}}}","{{{{ids[1]}}}}","rec-unknown"]}}}
            """));
        await deleted.ExpectAsync(HttpStatusCode.OK);
        var jobId = deleted.JobId();
        var job = await (await Server.Admin.GetAsync($"/runledger/v1/deletions/{jobId}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("done", (string?)job["state"]);
        Assert.Equal("llm_records", (string?)job["kind"]);
        audit = await (await Server.Admin.GetAsync($"/runledger/v1/audit?targetKind=llm_records&targetId={dataset}")).ExpectAsync(HttpStatusCode.OK);
        var entry = audit["entries"]!.AsArray()[^1]!;
        Assert.Equal("deletion.requested", (string?)entry["action"]);
        Assert.Equal(jobId, (string?)entry["jobId"]);
        Assert.Equal("""{"llm_records":2}""", entry["counts"]!.ToJsonString());
        Assert.Equal(0, await Server.CountAsync("SELECT COUNT(*) FROM llm_records WHERE dataset_id = @dataset AND version_to IS NULL", new { dataset }));
    }

    [Fact]
    public async Task DraftLock_WritesByAnotherUser_403NamingTheHolder_NothingChanged()
    {
        var (project, dataset) = await NewDatasetAsync();
        var ids = await Client.AppendAsync(project, dataset, 2);
        var d = $"{V1}/{project}/datasets/{dataset}";
        var locked = await (await Client.PatchAsync(d + "/draft_state/lock", null)).ExpectAsync(HttpStatusCode.OK);
        var user = locked["data"]!["attributes"]!["user"]!;
        var since = DateTimeOffset.Parse((string)locked["data"]!["attributes"]!["drafting_since"]!, CultureInfo.InvariantCulture)
            .ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
        var detail = $"The draft of dataset '{dataset}' is locked by '{(string)user["name"]!}' (user id '{(string)user["id"]!}') since {since}; " +
            "only the holder can change the dataset or its records until they unlock it (PATCH …/draft_state/unlock). Nothing was changed.";
        var before = await SnapshotAsync(dataset);

        using var other = Server.NewDatadogClient(TestCredentials.DatadogApiKey, await Server.AddCredentialAsync(CredentialKinds.DatadogAppKey, "read write"));
        var writes = new (HttpMethod Method, string Url, HttpContent? Body)[]
        {
            (HttpMethod.Patch, d + "/draft_state/lock", null),
            (HttpMethod.Patch, d + "/draft_state/unlock", null),
            (HttpMethod.Post, d + "/records", Http.Json("""{"data":{"type":"records","attributes":{"records":[{"input":"x"}]}}}""")),
            (HttpMethod.Patch, d + "/records", Http.Json($$$$"""{"data":{"type":"records","attributes":{"records":[{"id":"{{{{ids[0]}}}}","input":"y"}]}}}""")),
            (HttpMethod.Post, d + "/records/delete", Delete("records", "record_ids", ids[0])),
            (HttpMethod.Post, d + "/batch_update", Http.Json($$$$"""{"data":{"id":"{{{{dataset}}}}","type":"datasets","attributes":{"delete_records":["{{{{ids[1]}}}}"]}}}""")),
            (HttpMethod.Patch, d, Http.JsonApi("datasets", new JsonObject { ["name"] = "taken-over" })),
            (HttpMethod.Post, d + "/restore", Http.Json($$$$"""{"data":{"id":"{{{{dataset}}}}","type":"datasets","attributes":{"dataset_version":0}}}""")),
            (HttpMethod.Post, $"/api/v2/llm-obs/v2/{project}/datasets/{dataset}/records/upload", UploadForm("input\r\nz\r\n")),
        };
        foreach (var (method, url, body) in writes)
        {
            var response = await other.SendAsync(new HttpRequestMessage(method, url) { Content = body });
            await response.ExpectErrorAsync(HttpStatusCode.Forbidden, Error("403", "Forbidden", detail, "DraftLocked"));
        }

        Assert.Equal(before, await SnapshotAsync(dataset));
        Assert.Equal(1, await Server.CountAsync("SELECT COUNT(*) FROM llm_datasets WHERE id = @dataset AND name <> 'taken-over'", new { dataset }));

        // The holder writes; once unlocked, so does anyone.
        await (await Client.PostAsync(d + "/records/delete", Delete("records", "record_ids", ids[0]))).ExpectAsync(HttpStatusCode.NoContent);
        await (await Client.PatchAsync(d + "/draft_state/unlock", null)).ExpectAsync(HttpStatusCode.OK);
        await (await other.PostAsync(d + "/records/delete", Delete("records", "record_ids", ids[1]))).ExpectAsync(HttpStatusCode.NoContent);
        Assert.Equal(3, await CurrentVersionAsync(project, dataset));
    }

    [Fact]
    public async Task DraftLock_DatasetOrProjectDeleteByAnotherUser_403AsAnyWrite_NothingScheduled_HolderMayDelete()
    {
        var (project, locked) = await NewDatasetAsync();
        var free = await Client.NewDatasetAsync(project);
        await Client.AppendAsync(project, locked, 2);
        var taken = await (await Client.PatchAsync($"{V1}/{project}/datasets/{locked}/draft_state/lock", null)).ExpectAsync(HttpStatusCode.OK);
        var user = taken["data"]!["attributes"]!["user"]!;
        var since = DateTimeOffset.Parse((string)taken["data"]!["attributes"]!["drafting_since"]!, CultureInfo.InvariantCulture)
            .ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
        var refusal = Error("403", "Forbidden",
            $"The draft of dataset '{locked}' is locked by '{(string)user["name"]!}' (user id '{(string)user["id"]!}') since {since}; " +
            "only the holder can change the dataset or its records until they unlock it (PATCH …/draft_state/unlock). Nothing was changed.", "DraftLocked");
        var before = await SnapshotAsync(locked);

        // Another user: the dataset delete (also when it names a free dataset too) and the project delete
        // that would cascade to the locked dataset are refused as a whole.
        using var other = Server.NewDatadogClient(TestCredentials.DatadogApiKey, await Server.AddCredentialAsync(CredentialKinds.DatadogAppKey, "read write"));
        await (await other.PostAsync($"{V1}/{project}/datasets/delete", Delete("datasets", "dataset_ids", free, locked))).ExpectErrorAsync(HttpStatusCode.Forbidden, refusal);
        await (await other.PostAsync($"{V1}/projects/delete", Delete("projects", "project_ids", project))).ExpectErrorAsync(HttpStatusCode.Forbidden, refusal);
        Assert.Equal(before, await SnapshotAsync(locked));
        Assert.Equal(0, await Server.CountAsync("SELECT COUNT(*) FROM deletion_jobs WHERE target_id IN (@project, @locked, @free)", new { project, locked, free }));
        Assert.Equal(2, await Server.CountAsync("SELECT COUNT(*) FROM llm_datasets WHERE id IN (@locked, @free) AND deleting_job_id IS NULL", new { locked, free }));
        Assert.Equal(1, await Server.CountAsync("SELECT COUNT(*) FROM llm_projects WHERE id = @project AND deleting_job_id IS NULL", new { project }));

        // A free dataset alone is deleted by anyone; the holder deletes the locked one (its own lock).
        await (await other.PostAsync($"{V1}/{project}/datasets/delete", Delete("datasets", "dataset_ids", free))).ExpectAsync(HttpStatusCode.NoContent);
        await (await Client.PostAsync($"{V1}/{project}/datasets/delete", Delete("datasets", "dataset_ids", locked))).ExpectAsync(HttpStatusCode.NoContent);
        Assert.Equal(0, await Server.CountAsync("SELECT COUNT(*) FROM llm_datasets WHERE id IN (@locked, @free) AND deleting_job_id IS NULL", new { locked, free }));
        Assert.Equal(1, await Server.CountAsync("SELECT COUNT(*) FROM deletion_jobs WHERE target_id = @locked AND kind = 'llm_dataset'", new { locked }));

        // A dataset being deleted no longer guards its project: another user may delete the project.
        await (await other.PostAsync($"{V1}/projects/delete", Delete("projects", "project_ids", project))).ExpectAsync(HttpStatusCode.NoContent);
        Assert.Equal(1, await Server.CountAsync("SELECT COUNT(*) FROM deletion_jobs WHERE target_id = @project AND kind = 'llm_project'", new { project }));
    }

    [Fact]
    public async Task DraftLock_ProjectDeleteByTheHolder_204()
    {
        var (project, dataset) = await NewDatasetAsync();
        await (await Client.PatchAsync($"{V1}/{project}/datasets/{dataset}/draft_state/lock", null)).ExpectAsync(HttpStatusCode.OK);
        await (await Client.PostAsync($"{V1}/projects/delete", Delete("projects", "project_ids", project))).ExpectAsync(HttpStatusCode.NoContent);
        Assert.Equal(1, await Server.CountAsync("SELECT COUNT(*) FROM deletion_jobs WHERE target_id = @project AND kind = 'llm_project'", new { project }));
        Assert.Equal(0, await Server.CountAsync("SELECT COUNT(*) FROM llm_projects WHERE id = @project AND deleting_job_id IS NULL", new { project }));
    }

    private async Task PlaceHoldAsync(string kind, string id, string reason) =>
        await (await Server.Admin.PutAsync($"/runledger/v1/holds/{kind}/{id}?scope=default", Http.Json($$"""{"reason":"{{reason}}"}"""))).ExpectAsync(HttpStatusCode.Created);

    private static MultipartFormDataContent UploadForm(string csv)
    {
        var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(Encoding.UTF8.GetBytes(csv));
        file.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
        form.Add(file, "file", "records.csv");
        return form;
    }

    private async Task<string> UploadAsync(string project, string dataset, string csv, string query)
    {
        using var form = UploadForm(csv);
        var response = await Client.PostAsync($"/api/v2/llm-obs/v2/{project}/datasets/{dataset}/records/upload{query}", form);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        return await response.Content.ReadAsStringAsync();
    }
}

/// <summary>
/// A trigger that makes the database refuse inserting a record with input <c>"boom"</c> into one
/// dataset, until disposed: a failure only the database detects, after earlier statements ran.
/// </summary>
internal static class FailingInsert
{
    public static string ExceptionName(TestServer server) => server.Provider == Provider.Postgres ? "PostgresException" : "SqliteException";

    public static async Task<IAsyncDisposable> InstallAsync(TestServer server, string dataset)
    {
        var name = "boom_" + Guid.NewGuid().ToString("N");
        string create, drop;
        if (server.Provider == Provider.Postgres)
        {
            create = $$"""
                CREATE FUNCTION {{name}}() RETURNS trigger LANGUAGE plpgsql AS $f$
                BEGIN
                  IF NEW.dataset_id = '{{dataset}}' AND NEW.input = '"boom"' THEN RAISE EXCEPTION 'boom'; END IF;
                  RETURN NEW;
                END $f$;
                CREATE TRIGGER {{name}} BEFORE INSERT ON llm_records FOR EACH ROW EXECUTE FUNCTION {{name}}();
                """;
            drop = $"DROP TRIGGER {name} ON llm_records; DROP FUNCTION {name}();";
        }
        else
        {
            create = $"""CREATE TRIGGER {name} BEFORE INSERT ON llm_records WHEN NEW.dataset_id = '{dataset}' AND NEW.input = '"boom"' BEGIN SELECT RAISE(ABORT, 'boom'); END;""";
            drop = $"DROP TRIGGER {name};";
        }

        await ExecuteAsync(server, create);
        return new Removal(server, drop);
    }

    private static async Task ExecuteAsync(TestServer server, string sql)
    {
        await using var connection = await server.Service<IDatabase>().OpenAsync(CancellationToken.None);
        await connection.ExecuteAsync(sql);
    }

    private sealed class Removal(TestServer server, string sql) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await ExecuteAsync(server, sql);
    }
}

public sealed class RecordWriteTestsOnSqlite(RecordServer fixture) : RecordWriteTests(fixture), IClassFixture<RecordServer>;

public sealed class RecordWriteTestsOnPostgres(PostgresRecordServer fixture) : RecordWriteTests(fixture), IClassFixture<PostgresRecordServer>;
