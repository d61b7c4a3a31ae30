using System.Net;
using System.Text.Json.Nodes;
using Dapper;
using Runledger.Api.Tests.Support;
using Runledger.Storage;
using Runledger.Storage.Credentials;

namespace Runledger.Api.Tests;

/// <summary>A server with a small body limit and a tight per-credential rate limit.</summary>
public abstract class LimitsTests(ServerFixture fixture)
{
    private TestServer Server => fixture.Server;

    [Fact]
    public async Task AiApi_BodyOverLimit_413AndNothingCreated()
    {
        var token = await Server.AddCredentialAsync(CredentialKinds.BearerToken, "admin");
        using var client = Server.NewClient(token);
        var labels = new JsonArray(Enumerable.Range(0, 40).Select(i => (JsonNode)new JsonObject { ["key"] = $"ext.ai.sap.com/k{i}", ["value"] = new string('v', 100) }).ToArray());
        var body = new JsonObject { ["resourceGroupId"] = "too-big", ["labels"] = labels }.ToJsonString();
        var response = await client.PostAsync("/v2/admin/resourceGroups", Http.Json(body));
        var error = await response.ExpectAsync(HttpStatusCode.RequestEntityTooLarge);
        Http.AssertJson(
            """{"error":{"code":"PayloadTooLarge","message":"The request entity is larger than the limit of 2048 bytes defined by the server (Limits:MaxRequestBodyBytes); send smaller batches.","requestId":"{requestId}","target":"/resourceGroups"}}""",
            error, response.RequestId());
        await (await client.GetAsync("/v2/admin/resourceGroups/too-big")).ExpectAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task AiApi_MetricsPatchOverLimit_413AndNothingStored()
    {
        // A real execution that already holds points, tags and customInfo: the refused batch must
        // leave every one of them as it was.
        var database = Server.Service<IDatabase>();
        await Seed.OwnedRowsAsync(database, "default", 1);
        const string execution = "default-ex-1";
        var token = await Server.AddCredentialAsync(CredentialKinds.BearerToken, "admin");
        using var client = Server.NewClient(token);
        client.DefaultRequestHeaders.Add("AI-Resource-Group", "default");
        await (await client.PatchAsync("/v2/lm/metrics", Http.Json(
            $$"""{"executionId":"{{execution}}","metrics":[{"name":"loss","value":0.5,"step":0},{"name":"loss","value":0.25,"step":1}],"tags":[{"name":"t","value":"before"}],"customInfo":[{"name":"c","value":"before"}]}""",
            "application/merge-patch+json"))).ExpectAsync(HttpStatusCode.NoContent);
        var before = await StoredAsync(database, execution);
        Assert.Equal(2, before.Points.Count);

        var points = string.Join(',', Enumerable.Range(0, 100).Select(i => $$"""{"name":"loss","value":{{i}},"step":{{i}}}"""));
        var response = await client.PatchAsync("/v2/lm/metrics", Http.Json(
            $$"""{"executionId":"{{execution}}","metrics":[{{points}}],"tags":[{"name":"t","value":"after"}],"customInfo":[{"name":"c","value":"after"}]}""", "application/merge-patch+json"));
        var error = await response.ExpectAsync(HttpStatusCode.RequestEntityTooLarge);
        Http.AssertJson(
            """{"error":{"code":"PayloadTooLarge","message":"The request entity is larger than the limit of 2048 bytes defined by the server (Limits:MaxRequestBodyBytes); send smaller batches.","requestId":"{requestId}","target":"/metrics"}}""",
            error, response.RequestId());
        var after = await StoredAsync(database, execution);
        Assert.Equal(before.Points, after.Points);
        Assert.Equal(before.Attributes, after.Attributes);
        Assert.Equal(before.Resources, after.Resources);
    }

    /// <summary>Everything stored for the execution's metrics, in a fixed order.</summary>
    private static async Task<(List<string> Points, List<string> Attributes, List<string> Resources)> StoredAsync(IDatabase database, string executionId)
    {
        await using var connection = await database.OpenAsync(CancellationToken.None);
        var points = (await connection.QueryAsync<(long Ts, long Step, long Seq, string Name, double Value)>(
            "SELECT p.ts, p.step, p.seq, p.name, p.value FROM metric_points p JOIN metric_resources m ON m.id = p.resource_id WHERE m.execution_id = @executionId ORDER BY p.seq",
            new { executionId })).Select(p => p.ToString()).ToList();
        var attributes = (await connection.QueryAsync<(string Kind, string Name, string Value)>(
            "SELECT a.kind, a.name, a.value FROM metric_attributes a JOIN metric_resources m ON m.id = a.resource_id WHERE m.execution_id = @executionId ORDER BY a.kind, a.name",
            new { executionId })).Select(a => a.ToString()).ToList();
        var resources = (await connection.QueryAsync<(string Id, long ModifiedAt, long NextSeq)>(
            "SELECT id, modified_at, next_seq FROM metric_resources WHERE execution_id = @executionId ORDER BY id",
            new { executionId })).Select(r => r.ToString()).ToList();
        return (points, attributes, resources);
    }

    [Fact]
    public async Task LlmObs_BodyOverLimit_413InJsonApiShape()
    {
        var appKey = await Server.AddCredentialAsync(CredentialKinds.DatadogAppKey, "read write");
        using var client = Server.NewDatadogClient(TestCredentials.DatadogApiKey, appKey);
        var response = await client.PostAsync("/api/v2/llm-obs/v1/projects", Http.JsonApi("projects", new JsonObject { ["name"] = "big", ["description"] = new string('d', 4000) }));
        var error = await response.ExpectAsync(HttpStatusCode.RequestEntityTooLarge);
        Assert.Equal("413", (string?)error["errors"]![0]!["status"]);
        Assert.Equal("Payload Too Large", (string?)error["errors"]![0]!["title"]);
    }

    [Fact]
    public async Task AiApi_OverRateLimit_429WithHeaders()
    {
        var token = await Server.AddCredentialAsync(CredentialKinds.BearerToken, "admin");
        using var client = Server.NewClient(token);
        for (var i = 0; i < 3; i++)
        {
            await (await client.GetAsync("/v2/admin/resourceGroups")).ExpectAsync(HttpStatusCode.OK);
        }

        var response = await client.GetAsync("/v2/admin/resourceGroups");
        var body = await response.ExpectAsync(HttpStatusCode.TooManyRequests);
        Http.AssertJson(
            """{"error":{"code":"TooManyRequests","message":"Too many requests: this credential may make 3 requests per 3600 s; retry after 3600 s.","requestId":"{requestId}","target":"/resourceGroups"}}""",
            body, response.RequestId());
        Assert.Equal("3600", response.Headers.GetValues("Retry-After").Single());

        // The limit is per credential: the admin token is not affected.
        await (await Server.Admin.GetAsync("/v2/admin/resourceGroups")).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task LlmObs_OverRateLimit_429WithDatadogHeaders()
    {
        var appKey = await Server.AddCredentialAsync(CredentialKinds.DatadogAppKey, "read write");
        using var client = Server.NewDatadogClient(TestCredentials.DatadogApiKey, appKey);
        for (var i = 0; i < 3; i++)
        {
            await (await client.GetAsync("/api/v2/llm-obs/v1/projects")).ExpectAsync(HttpStatusCode.OK);
        }

        var response = await client.GetAsync("/api/v2/llm-obs/v1/projects");
        var body = await response.ExpectAsync(HttpStatusCode.TooManyRequests);
        Http.AssertJson("""{"errors":["Too many requests: this credential may make 3 requests per 3600 s; retry after 3600 s."]}""", body);
        Assert.Equal("3", response.Headers.GetValues("X-RateLimit-Limit").Single());
        Assert.Equal("3600", response.Headers.GetValues("X-RateLimit-Period").Single());
        Assert.Equal("0", response.Headers.GetValues("X-RateLimit-Remaining").Single());
        Assert.Equal("3600", response.Headers.GetValues("X-RateLimit-Reset").Single());
        Assert.Equal("runledger-per-credential", response.Headers.GetValues("X-RateLimit-Name").Single());
    }
}

public abstract class LimitedServer(Provider provider) : ServerFixture(provider)
{
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Limits:MaxRequestBodyBytes"] = "2048",
        ["RateLimit:PermitLimit"] = "3",
        ["RateLimit:WindowSeconds"] = "3600",
    };
}

public sealed class LimitedSqliteServer() : LimitedServer(Provider.Sqlite);

public sealed class LimitedPostgresServer() : LimitedServer(Provider.Postgres);

public sealed class LimitsTestsOnSqlite(LimitedSqliteServer fixture) : LimitsTests(fixture), IClassFixture<LimitedSqliteServer>;

public sealed class LimitsTestsOnPostgres(LimitedPostgresServer fixture) : LimitsTests(fixture), IClassFixture<LimitedPostgresServer>;
