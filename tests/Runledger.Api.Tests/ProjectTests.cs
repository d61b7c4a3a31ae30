using System.Net;
using System.Text.Json.Nodes;
using Runledger.Api.Tests.Support;
using Runledger.Storage.Credentials;

namespace Runledger.Api.Tests;

public abstract class ProjectTests(ServerFixture fixture)
{
    private TestServer Server => fixture.Server;

    private Task<HttpResponseMessage> CreateAsync(string name, string? description = null, HttpClient? client = null) =>
        (client ?? Server.Datadog).PostAsync("/api/v2/llm-obs/v1/projects", Http.JsonApi("projects", new JsonObject { ["name"] = name, ["description"] = description }));

    [Fact]
    public async Task Create_NewName_201ThenSameName_200WithTheExistingProject()
    {
        var name = "proj-" + Guid.NewGuid().ToString("N");
        var created = await (await CreateAsync(name, "first")).ExpectAsync(HttpStatusCode.Created);
        var data = created["data"]!;
        Assert.Equal("projects", (string?)data["type"]);
        Assert.Equal(name, (string?)data["attributes"]!["name"]);
        Assert.Equal("first", (string?)data["attributes"]!["description"]);
        Assert.NotNull(data["attributes"]!["created_at"]);
        Assert.NotNull(data["attributes"]!["updated_at"]);

        var again = await (await CreateAsync(name, "second")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal((string?)data["id"], (string?)again["data"]!["id"]);
        Assert.Equal("first", (string?)again["data"]!["attributes"]!["description"]);
    }

    [Fact]
    public async Task Create_WithoutDescription_DescriptionIsNull()
    {
        var body = await (await Server.Datadog.PostAsync("/api/v2/llm-obs/v1/projects", Http.JsonApi("projects", new JsonObject { ["name"] = "n-" + Guid.NewGuid().ToString("N") }))).ExpectAsync(HttpStatusCode.Created);
        var attributes = body["data"]!["attributes"]!.AsObject();
        Assert.True(attributes.ContainsKey("description"));
        Assert.Null(attributes["description"]);
    }

    [Theory]
    [InlineData("""{"data":{"type":"datasets","attributes":{"name":"x"}}}""", "/data/type", "'data.type' must be \"projects\".")]
    [InlineData("""{"data":{"type":"projects","attributes":{}}}""", "/data/attributes/name", "'name' is required.")]
    [InlineData("""{"data":{"type":"projects","attributes":{"name":7}}}""", "/data/attributes/name", "'name' must be a string, not number.")]
    [InlineData("""{"data":{"type":"projects","attributes":{"name":"  "}}}""", "/data/attributes/name", "'name' must not be empty.")]
    [InlineData("""{"data":{"type":"projects"}}""", "/data/attributes", "'data.attributes' is required and must be an object.")]
    [InlineData("""{"nodata":true}""", "/data", "'data' is required and must be an object.")]
    public async Task Create_InvalidBody_400PointsAtTheField(string json, string jsonPointer, string detail)
    {
        var response = await Server.Datadog.PostAsync("/api/v2/llm-obs/v1/projects", Http.Json(json));
        var body = await response.ExpectAsync(HttpStatusCode.BadRequest);
        var expected = new JsonObject
        {
            ["errors"] = new JsonArray(new JsonObject
            {
                ["status"] = "400",
                ["title"] = "Bad Request",
                ["detail"] = detail,
                ["source"] = new JsonObject { ["pointer"] = jsonPointer },
                ["meta"] = new JsonObject { ["code"] = "InvalidRequest", ["request_id"] = "{requestId}" },
            }),
        };
        Http.AssertJson(expected.ToJsonString(), body, response.RequestId());
    }

    [Fact]
    public async Task List_NewestFirstWithCursorPaging_AndFilters()
    {
        // A fresh organisation, so the list holds exactly what this test created.
        var org = "paging-org-" + Guid.NewGuid().ToString("N");
        var appKey = await Server.AddCredentialAsync(CredentialKinds.DatadogAppKey, "read write", orgId: org);
        var orgKey = await Server.AddCredentialAsync(CredentialKinds.DatadogApiKey, "", orgId: org);
        using var client = Server.NewDatadogClient(orgKey, appKey);
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var body = await (await CreateAsync($"p{i}", client: client)).ExpectAsync(HttpStatusCode.Created);
            ids.Add((string)body["data"]!["id"]!);
        }

        var seen = new List<JsonNode>();
        var url = "/api/v2/llm-obs/v1/projects?page%5Blimit%5D=2";
        string? after;
        do
        {
            var page = await (await client.GetAsync(url)).ExpectAsync(HttpStatusCode.OK);
            seen.AddRange(page["data"]!.AsArray().Select(p => p!));
            after = (string?)page["meta"]!["after"];
            url = $"/api/v2/llm-obs/v1/projects?page[limit]=2&page[cursor]={after}";
        }
        while (after is not null);

        NewestFirst.AssertOrder(ids, seen);
        ids.Reverse();

        var byName = await (await client.GetAsync("/api/v2/llm-obs/v1/projects?filter[name]=p3")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(["p3"], byName["data"]!.AsArray().Select(p => (string)p!["attributes"]!["name"]!));
        var byId = await (await client.GetAsync($"/api/v2/llm-obs/v1/projects?filter%5Bid%5D={ids[0]}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([ids[0]], byId["data"]!.AsArray().Select(p => (string)p!["id"]!));

        // Another organisation sees none of them.
        var others = await (await Server.Datadog.GetAsync($"/api/v2/llm-obs/v1/projects?filter[id]={ids[0]}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Empty(others["data"]!.AsArray());
    }

    [Fact]
    public async Task List_BadPageLimit_400NamesTheParameter()
    {
        var response = await Server.Datadog.GetAsync("/api/v2/llm-obs/v1/projects?page[limit]=zero");
        var body = await response.ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("page[limit]", (string?)body["errors"]![0]!["source"]!["parameter"]);
        Assert.Equal("page[limit] is 'zero'; it must be a whole number of 1 or more.", (string?)body["errors"]![0]!["detail"]);
    }

    [Fact]
    public async Task Update_NameAndDescription_200AndStored()
    {
        var created = await (await CreateAsync("upd-" + Guid.NewGuid().ToString("N"), "old")).ExpectAsync(HttpStatusCode.Created);
        var id = (string)created["data"]!["id"]!;
        var newName = "renamed-" + Guid.NewGuid().ToString("N");
        var updated = await (await Server.Datadog.PatchAsync($"/api/v2/llm-obs/v1/projects/{id}", Http.JsonApi("projects", new JsonObject { ["name"] = newName, ["description"] = null }))).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(newName, (string?)updated["data"]!["attributes"]!["name"]);
        Assert.Null(updated["data"]!["attributes"]!["description"]);

        var listed = await (await Server.Datadog.GetAsync($"/api/v2/llm-obs/v1/projects?filter[id]={id}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(newName, (string?)listed["data"]![0]!["attributes"]!["name"]);

        var missing = await (await Server.Datadog.PatchAsync("/api/v2/llm-obs/v1/projects/nope", Http.JsonApi("projects", new JsonObject { ["name"] = "x" }))).ExpectAsync(HttpStatusCode.NotFound);
        Assert.Equal("Project 'nope' does not exist.", (string?)missing["errors"]![0]!["detail"]);
    }

    [Fact]
    public async Task Update_ToAnotherProjectsName_400AndUnchanged()
    {
        var first = "a-" + Guid.NewGuid().ToString("N");
        await (await CreateAsync(first)).ExpectAsync(HttpStatusCode.Created);
        var second = await (await CreateAsync("b-" + Guid.NewGuid().ToString("N"))).ExpectAsync(HttpStatusCode.Created);
        var id = (string)second["data"]!["id"]!;
        var body = await (await Server.Datadog.PatchAsync($"/api/v2/llm-obs/v1/projects/{id}", Http.JsonApi("projects", new JsonObject { ["name"] = first }))).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("/data/attributes/name", (string?)body["errors"]![0]!["source"]!["pointer"]);
        var listed = await (await Server.Datadog.GetAsync($"/api/v2/llm-obs/v1/projects?filter[id]={id}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal((string?)second["data"]!["attributes"]!["name"], (string?)listed["data"]![0]!["attributes"]!["name"]);
    }
}

public sealed class ProjectTestsOnSqlite(SqliteServer fixture) : ProjectTests(fixture), IClassFixture<SqliteServer>;

public sealed class ProjectTestsOnPostgres(PostgresServer fixture) : ProjectTests(fixture), IClassFixture<PostgresServer>;
