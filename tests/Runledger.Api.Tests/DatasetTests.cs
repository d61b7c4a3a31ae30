using System.Net;
using System.Text.Json.Nodes;
using Dapper;
using Runledger.Api.Tests.Support;
using Runledger.Storage;
using Runledger.Storage.Credentials;
using static Runledger.Api.Tests.Support.LlmObs;

namespace Runledger.Api.Tests;

public abstract class DatasetTests(ServerFixture fixture)
{
    private TestServer Server => fixture.Server;
    private HttpClient Client => Server.Datadog;

    [Fact]
    public async Task Create_NewName_201ThenSameName_200WithTheExisting()
    {
        var project = await Client.NewProjectAsync();
        var name = "ds-" + Guid.NewGuid().ToString("N");
        var created = await (await Client.PostAsync($"{V1}/{project}/datasets", Http.JsonApi("datasets", new JsonObject
        {
            ["name"] = name,
            ["description"] = "first",
            ["metadata"] = new JsonObject { ["team"] = "ai" },
        }))).ExpectAsync(HttpStatusCode.Created);
        var data = created["data"]!;
        Assert.Equal("datasets", (string?)data["type"]);
        var attributes = data["attributes"]!;
        Assert.Equal(name, (string?)attributes["name"]);
        Assert.Equal("first", (string?)attributes["description"]);
        Assert.Equal("""{"team":"ai"}""", attributes["metadata"]!.ToJsonString());
        Assert.Equal(0, (long)attributes["current_version"]!);
        Assert.NotNull(attributes["created_at"]);
        Assert.NotNull(attributes["updated_at"]);

        var again = await (await Client.PostAsync($"{V1}/{project}/datasets", Http.JsonApi("datasets", new JsonObject { ["name"] = name }))).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal((string?)data["id"], (string?)again["data"]!["id"]);
        Assert.Equal("first", (string?)again["data"]!["attributes"]!["description"]);
    }

    [Fact]
    public async Task Create_WithoutOptionalFields_DescriptionAndMetadataNull()
    {
        var project = await Client.NewProjectAsync();
        var body = await (await Client.PostAsync($"{V1}/{project}/datasets", Http.JsonApi("datasets", new JsonObject { ["name"] = "plain" }))).ExpectAsync(HttpStatusCode.Created);
        var attributes = body["data"]!["attributes"]!.AsObject();
        Assert.True(attributes.ContainsKey("description") && attributes.ContainsKey("metadata"));
        Assert.Null(attributes["description"]);
        Assert.Null(attributes["metadata"]);
    }

    [Theory]
    [InlineData("""{"data":{"type":"projects","attributes":{"name":"x"}}}""", "/data/type", "'data.type' must be \"datasets\".")]
    [InlineData("""{"data":{"type":"datasets","attributes":{}}}""", "/data/attributes/name", "'name' is required.")]
    [InlineData("""{"data":{"type":"datasets","attributes":{"name":"x","metadata":[1]}}}""", "/data/attributes/metadata", "'metadata' must be an object, not array.")]
    public async Task Create_InvalidBody_400PointsAtTheField(string json, string jsonPointer, string detail)
    {
        var project = await Client.NewProjectAsync();
        var response = await Client.PostAsync($"{V1}/{project}/datasets", Http.Json(json));
        await response.ExpectErrorAsync(HttpStatusCode.BadRequest, Error("400", "Bad Request", detail, "InvalidRequest", jsonPointer: jsonPointer));
        Assert.Equal(0, await Server.CountAsync("SELECT COUNT(*) FROM llm_datasets WHERE project_id = @project", new { project }));
    }

    [Fact]
    public async Task Create_UnknownProject_404()
    {
        var response = await Client.PostAsync($"{V1}/nope/datasets", Http.JsonApi("datasets", new JsonObject { ["name"] = "x" }));
        await response.ExpectErrorAsync(HttpStatusCode.NotFound, Error("404", "Not Found", "Project 'nope' does not exist.", "ProjectNotFound", parameter: "project_id"));
    }

    [Fact]
    public async Task List_NewestFirstWithCursorPaging_AndFilters()
    {
        var project = await Client.NewProjectAsync();
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await Client.NewDatasetAsync(project, $"d{i}"));
        }

        var seen = new List<JsonNode>();
        var url = $"{V1}/{project}/datasets?page%5Blimit%5D=2";
        string? after;
        do
        {
            var page = await (await Client.GetAsync(url)).ExpectAsync(HttpStatusCode.OK);
            seen.AddRange(page["data"]!.AsArray().Select(p => p!));
            after = (string?)page["meta"]!["after"];
            url = $"{V1}/{project}/datasets?page%5Blimit%5D=2&page%5Bcursor%5D={after}";
        }
        while (after is not null);

        NewestFirst.AssertOrder(ids, seen);
        ids.Reverse();

        var byName = await (await Client.GetAsync($"{V1}/{project}/datasets?filter[name]=d3")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(["d3"], byName["data"]!.AsArray().Select(p => (string)p!["attributes"]!["name"]!));
        var byId = await (await Client.GetAsync($"{V1}/{project}/datasets?filter%5Bid%5D={ids[0]}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([ids[0]], byId["data"]!.AsArray().Select(p => (string)p!["id"]!));
    }

    [Fact]
    public async Task List_UnknownProjectOrOtherOrganisation_404()
    {
        var project = await Client.NewProjectAsync();
        var org = "other-org-" + Guid.NewGuid().ToString("N");
        using var other = Server.NewDatadogClient(
            await Server.AddCredentialAsync(CredentialKinds.DatadogApiKey, "", orgId: org),
            await Server.AddCredentialAsync(CredentialKinds.DatadogAppKey, "read write", orgId: org));
        var response = await other.GetAsync($"{V1}/{project}/datasets");
        await response.ExpectErrorAsync(HttpStatusCode.NotFound, Error("404", "Not Found", $"Project '{project}' does not exist.", "ProjectNotFound", parameter: "project_id"));
    }

    [Fact]
    public async Task Delete_Datasets_204HiddenAtOnceThenReclaimed_NameReusable()
    {
        var project = await Client.NewProjectAsync();
        var dataset = await Client.NewDatasetAsync(project, "to-delete");
        var kept = await Client.NewDatasetAsync(project, "kept");
        await Client.AppendAsync(project, dataset, 3);
        await Client.AppendAsync(project, kept, 2);

        var response = await Client.PostAsync($"{V1}/{project}/datasets/delete", Delete("datasets", "dataset_ids", dataset, "unknown-id"));
        await response.ExpectAsync(HttpStatusCode.NoContent);
        var list = await (await Client.GetAsync($"{V1}/{project}/datasets")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([kept], list["data"]!.AsArray().Select(d => (string)d!["id"]!));

        await Server.WaitForJobAsync(response.JobId());
        Assert.Equal(0, await Server.CountAsync("SELECT COUNT(*) FROM llm_datasets WHERE id = @dataset", new { dataset }));
        Assert.Equal(0, await Server.CountAsync("SELECT COUNT(*) FROM llm_records WHERE dataset_id = @dataset", new { dataset }));
        Assert.Equal(0, await Server.CountAsync("SELECT COUNT(*) FROM llm_dataset_versions WHERE dataset_id = @dataset", new { dataset }));
        Assert.Equal(2, await Server.CountAsync("SELECT COUNT(*) FROM llm_records WHERE dataset_id = @kept", new { kept }));

        // Repeating the request is harmless; the name is free again.
        await (await Client.PostAsync($"{V1}/{project}/datasets/delete", Delete("datasets", "dataset_ids", dataset))).ExpectAsync(HttpStatusCode.NoContent);
        await (await Client.PostAsync($"{V1}/{project}/datasets", Http.JsonApi("datasets", new JsonObject { ["name"] = "to-delete" }))).ExpectAsync(HttpStatusCode.Created);
    }

    [Fact]
    public async Task Delete_Datasets_UnknownProject404_EmptyOrWrongType400_NothingChanges()
    {
        var project = await Client.NewProjectAsync();
        var dataset = await Client.NewDatasetAsync(project);
        await (await Client.PostAsync($"{V1}/nope/datasets/delete", Delete("datasets", "dataset_ids", dataset)))
            .ExpectErrorAsync(HttpStatusCode.NotFound, Error("404", "Not Found", "Project 'nope' does not exist.", "ProjectNotFound", parameter: "project_id"));
        await (await Client.PostAsync($"{V1}/{project}/datasets/delete", Delete("datasets", "dataset_ids")))
            .ExpectErrorAsync(HttpStatusCode.BadRequest, Error("400", "Bad Request", "'dataset_ids' is empty; name 1 to 1000 ids.", "InvalidRequest", jsonPointer: "/data/attributes/dataset_ids"));
        await (await Client.PostAsync($"{V1}/{project}/datasets/delete", Delete("records", "dataset_ids", dataset)))
            .ExpectErrorAsync(HttpStatusCode.BadRequest, Error("400", "Bad Request", "'data.type' must be \"datasets\".", "InvalidRequest", jsonPointer: "/data/type"));
        Assert.Equal(1, await Server.CountAsync("SELECT COUNT(*) FROM llm_datasets WHERE id = @dataset AND deleting_job_id IS NULL", new { dataset }));
    }

    [Fact]
    public async Task DeleteProjects_CascadesToDatasetsVersionsAndRecords_NothingLeft()
    {
        var project = await Client.NewProjectAsync();
        var other = await Client.NewProjectAsync();
        var first = await Client.NewDatasetAsync(project);
        var second = await Client.NewDatasetAsync(project);
        var survivor = await Client.NewDatasetAsync(other);
        await Client.AppendAsync(project, first, 5);
        await Client.AppendAsync(project, second, 4);
        await Client.AppendAsync(other, survivor, 2);

        var response = await Client.PostAsync($"{V1}/projects/delete", Delete("projects", "project_ids", project, "no-such-project"));
        await response.ExpectAsync(HttpStatusCode.NoContent);
        await (await Client.GetAsync($"{V1}/{project}/datasets")).ExpectAsync(HttpStatusCode.NotFound);
        var listed = await (await Client.GetAsync($"{V1}/projects?filter[id]={project}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Empty(listed["data"]!.AsArray());

        var job = await Server.WaitForJobAsync(response.JobId());
        Assert.Equal(9, (long)job["removed"]!["llm_records"]!);
        Assert.Equal(0, await Server.CountAsync("SELECT COUNT(*) FROM llm_projects WHERE id = @project", new { project }));
        Assert.Equal(0, await Server.CountAsync("SELECT COUNT(*) FROM llm_datasets WHERE project_id = @project", new { project }));
        Assert.Equal(0, await Server.CountAsync(
            "SELECT COUNT(*) FROM llm_records WHERE dataset_id IN (@first, @second)", new { first, second }));
        Assert.Equal(0, await Server.CountAsync(
            "SELECT COUNT(*) FROM llm_dataset_versions WHERE dataset_id IN (@first, @second)", new { first, second }));
        Assert.Equal(2, await Server.CountAsync("SELECT COUNT(*) FROM llm_records WHERE dataset_id = @survivor", new { survivor }));
    }

    [Fact]
    public async Task DeleteProjects_EmptyListOrWrongType_400NothingChanges()
    {
        var project = await Client.NewProjectAsync();
        await (await Client.PostAsync($"{V1}/projects/delete", Delete("projects", "project_ids")))
            .ExpectErrorAsync(HttpStatusCode.BadRequest, Error("400", "Bad Request", "'project_ids' is empty; name 1 to 1000 ids.", "InvalidRequest", jsonPointer: "/data/attributes/project_ids"));
        await (await Client.PostAsync($"{V1}/projects/delete", Delete("datasets", "project_ids", project)))
            .ExpectErrorAsync(HttpStatusCode.BadRequest, Error("400", "Bad Request", "'data.type' must be \"projects\".", "InvalidRequest", jsonPointer: "/data/type"));
        await (await Client.PostAsync($"{V1}/projects/delete", Http.JsonApi("projects", new JsonObject { ["project_ids"] = "x" })))
            .ExpectErrorAsync(HttpStatusCode.BadRequest, Error("400", "Bad Request", "'project_ids' must be an array of ids, not string.", "InvalidRequest", jsonPointer: "/data/attributes/project_ids"));
        Assert.Equal(1, await Server.CountAsync("SELECT COUNT(*) FROM llm_projects WHERE id = @project AND deleting_job_id IS NULL", new { project }));
    }

    [Fact]
    public async Task AnyBody_NamingAPropertyTwice_400PointsAtTheSecond_NothingStored()
    {
        var name = "dup-" + Guid.NewGuid().ToString("N");
        await (await Client.PostAsync($"{V1}/projects", Http.Json($$$$"""{"data":{"type":"projects","attributes":{"name":"{{{{name}}}}","name":"{{{{name}}}}-2"}}}""")))
            .ExpectErrorAsync(HttpStatusCode.BadRequest, Error("400", "Bad Request",
                "The request body names 'name' twice in one object (field '/data/attributes/name'); each property may appear once.", "MalformedBody", jsonPointer: "/data/attributes/name"));
        Assert.Equal(0, await Server.CountAsync("SELECT COUNT(*) FROM llm_projects WHERE name LIKE @name", new { name = name + "%" }));

        var project = await Client.NewProjectAsync();
        var dataset = await Client.NewDatasetAsync(project);
        await (await Client.PostAsync($"{V1}/{project}/datasets/{dataset}/records",
                Http.Json("""{"data":{"type":"records","attributes":{"records":[{"input":"a"},{"input":{"q":1,"a/b":2,"a/b":3}}]}}}""")))
            .ExpectErrorAsync(HttpStatusCode.BadRequest, Error("400", "Bad Request",
                "The request body names 'a/b' twice in one object (field '/data/attributes/records/1/input/a~1b'); each property may appear once.", "MalformedBody",
                jsonPointer: "/data/attributes/records/1/input/a~1b"));
        Assert.Equal(0, await Server.CountAsync("SELECT COUNT(*) FROM llm_records WHERE dataset_id = @dataset", new { dataset }));
    }

    [Fact]
    public async Task Append_ALargeBatch_AnswersEveryRecordInOrder_AndStoresThem()
    {
        // 2,000 records answer ≈ 500 KB: written out in several flushes, without a length.
        var project = await Client.NewProjectAsync();
        var dataset = await Client.NewDatasetAsync(project);
        var records = new JsonArray();
        for (var i = 0; i < 2_000; i++)
        {
            records.Add(new JsonObject { ["input"] = new JsonObject { ["question"] = $"What is {i} \"squared\"? é" }, ["expected_output"] = i, ["metadata"] = new JsonObject { ["n"] = i } });
        }

        var response = await Client.PostAsync($"{V1}/{project}/datasets/{dataset}/records", Http.JsonApi("records", new JsonObject { ["records"] = records }));
        var body = await response.ExpectAsync(HttpStatusCode.Created);
        var answered = body["data"]![0]!["records"]!.AsArray();
        Assert.Equal(2_000, answered.Count);
        for (var i = 0; i < 2_000; i += 397)
        {
            Assert.Equal($"What is {i} \"squared\"? é", (string?)answered[i]!["input"]!["question"]);
            Assert.Equal(i, (int)answered[i]!["expected_output"]!);
            Assert.Equal(i, (int)answered[i]!["metadata"]!["n"]!);
            Assert.Equal(dataset, (string?)answered[i]!["dataset_id"]);
        }

        Assert.Equal(2_000, answered.Select(r => (string?)r!["id"]).Distinct().Count());
        Assert.Equal(2_000, await Server.CountAsync("SELECT COUNT(*) FROM llm_records WHERE dataset_id = @dataset", new { dataset }));
        await using var connection = await Server.Service<IDatabase>().OpenAsync(CancellationToken.None);
        Assert.Equal(
            """{"question":"What is 5 \"squared\"? é"}""",
            await connection.ExecuteScalarAsync<string>("SELECT input FROM llm_records WHERE dataset_id = @dataset AND id = @id", new { dataset, id = (string?)answered[5]!["id"] }));
    }
}

public sealed class DatasetTestsOnSqlite(SqliteServer fixture) : DatasetTests(fixture), IClassFixture<SqliteServer>;

public sealed class DatasetTestsOnPostgres(PostgresServer fixture) : DatasetTests(fixture), IClassFixture<PostgresServer>;
