using System.Net;
using System.Text.Json.Nodes;
using Runledger.Api.Tests.Support;
using static Runledger.Api.Tests.Support.LlmObs;

namespace Runledger.Api.Tests;

/// <summary>
/// The record list keeps its answers in memory (RecordListCache). With the clock stopped, so that
/// every change lands in the same millisecond, each kind of change to records is still seen by the
/// very next list: the cache may only ever answer what the store holds.
/// </summary>
public abstract class RecordListCacheTests(ClockedServer fixture)
{
    private HttpClient Client => fixture.Server.Datadog;

    private static string Records(string project, string dataset) => $"{V1}/{project}/datasets/{dataset}/records";

    private async Task<JsonArray> ListAsync(string project, string dataset, string query = "") =>
        (await (await Client.GetAsync(Records(project, dataset) + query)).ExpectAsync(HttpStatusCode.OK))["data"]!.AsArray();

    private static List<string> Ids(JsonArray data) => data.Select(r => (string)r!["id"]!).ToList();

    [Fact]
    public async Task EveryChangeInTheSameMillisecond_IsSeenByTheNextList()
    {
        var project = await Client.NewProjectAsync();
        var dataset = await Client.NewDatasetAsync(project);
        Assert.Empty(await ListAsync(project, dataset));

        // Append: version 1.
        var ids = await Client.AppendAsync(project, dataset, 3);
        Assert.Equal(3, (await ListAsync(project, dataset)).Count);
        Assert.Equal(3, (await ListAsync(project, dataset)).Count);

        // A metadata-only update creates no version: only updated_at tells the two states apart.
        await (await Client.PatchAsync(Records(project, dataset), Http.JsonApi("records", new JsonObject
        {
            ["records"] = new JsonArray(new JsonObject { ["id"] = ids[0], ["metadata"] = new JsonObject { ["k"] = "v1" } }),
        }))).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("""{"k":"v1"}""", (await ListAsync(project, dataset)).Single(r => (string)r!["id"]! == ids[0])!["metadata"]!.ToJsonString());
        await (await Client.PatchAsync(Records(project, dataset), Http.JsonApi("records", new JsonObject
        {
            ["records"] = new JsonArray(new JsonObject { ["id"] = ids[0], ["metadata"] = new JsonObject { ["k"] = "v2" } }),
        }))).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("""{"k":"v2"}""", (await ListAsync(project, dataset)).Single(r => (string)r!["id"]! == ids[0])!["metadata"]!.ToJsonString());

        // A CSV upload that overwrites a record (same input and expected output, new metadata).
        var input = (await ListAsync(project, dataset)).Single(r => (string)r!["id"]! == ids[2])!["input"]!.ToJsonString();
        var csv = "id,input,expected_output,metadata\r\n" + ids[2] + ",\"" + input.Replace("\"", "\"\"", StringComparison.Ordinal) + "\",a2,\"{\"\"k\"\":\"\"csv\"\"}\"\r\n";
        using (var form = new MultipartFormDataContent())
        {
            var file = new ByteArrayContent(System.Text.Encoding.UTF8.GetBytes(csv));
            file.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("text/csv");
            form.Add(file, "file", "records.csv");
            var upload = await Client.PostAsync($"/api/v2/llm-obs/v2/{project}/datasets/{dataset}/records/upload", form);
            Assert.Contains("event: completed", await upload.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal("""{"k":"csv"}""", (await ListAsync(project, dataset)).Single(r => (string)r!["id"]! == ids[2])!["metadata"]!.ToJsonString());

        // A dataset rename in between must not take updated_at back to a state the cache has seen.
        await (await Client.PatchAsync($"{V1}/{project}/datasets/{dataset}", Http.JsonApi("datasets", new JsonObject { ["name"] = "renamed-" + dataset })))
            .ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(3, (await ListAsync(project, dataset)).Count);

        // batch_update in place (no new version), deleting one record.
        await (await Client.PostAsync($"{V1}/{project}/datasets/{dataset}/batch_update", Http.Json($$$$"""
            {"data":{"id":"{{{{dataset}}}}","type":"datasets","attributes":{"create_new_version":false,"delete_records":["{{{{ids[1]}}}}"]}}}
            """))).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(new[] { ids[0], ids[2] }.Order(StringComparer.Ordinal), Ids(await ListAsync(project, dataset)).Order(StringComparer.Ordinal));

        // records/delete: a new version.
        await (await Client.PostAsync(Records(project, dataset) + "/delete", Http.JsonApi("records", new JsonObject { ["record_ids"] = new JsonArray(ids[2]) })))
            .ExpectAsync(HttpStatusCode.NoContent);
        Assert.Equal([ids[0]], Ids(await ListAsync(project, dataset)));

        // Paging answers are kept per cursor and limit, and follow changes too.
        var more = await Client.AppendAsync(project, dataset, 2, prefix: "more");
        var first = await (await Client.GetAsync(Records(project, dataset) + "?page[limit]=2")).ExpectAsync(HttpStatusCode.OK);
        var cursor = (string)first["meta"]!["after"]!;
        Assert.Equal(2, first["data"]!.AsArray().Count);
        var second = Ids(await ListAsync(project, dataset, "?page[limit]=2&page[cursor]=" + Uri.EscapeDataString(cursor)));
        Assert.Single(second);
        await (await Client.PostAsync(Records(project, dataset) + "/delete", Http.JsonApi("records", new JsonObject { ["record_ids"] = new JsonArray(second[0]) })))
            .ExpectAsync(HttpStatusCode.NoContent);
        Assert.Empty(await ListAsync(project, dataset, "?page[limit]=2&page[cursor]=" + Uri.EscapeDataString(cursor)));
        Assert.Equal(more.Append(ids[0]).Where(id => id != second[0]).Order(StringComparer.Ordinal), Ids(await ListAsync(project, dataset)).Order(StringComparer.Ordinal));

        // Restoring an earlier version brings its records back at once (version 1: the three appended;
        // the upload made version 2, which the in-place batch_update then changed).
        var versionOne = ids.Order(StringComparer.Ordinal).ToList();
        await (await Client.PostAsync($"{V1}/{project}/datasets/{dataset}/restore", Http.Json(
            $$$$"""{"data":{"id":"{{{{dataset}}}}","type":"datasets","attributes":{"dataset_version":1}}}"""))).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(versionOne, Ids(await ListAsync(project, dataset)).Order(StringComparer.Ordinal));

        // An earlier version's list is what it was, before and after the changes above.
        Assert.Equal(versionOne, Ids(await ListAsync(project, dataset, "?filter[version]=1")).Order(StringComparer.Ordinal));
    }
}

public sealed class RecordListCacheTestsOnSqlite(SqliteClockedServer fixture) : RecordListCacheTests(fixture), IClassFixture<SqliteClockedServer>;

public sealed class RecordListCacheTestsOnPostgres(PostgresClockedServer fixture) : RecordListCacheTests(fixture), IClassFixture<PostgresClockedServer>;
