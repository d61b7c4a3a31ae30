using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using Runledger.Api.Tests.Support;
using Runledger.Storage.Credentials;

namespace Runledger.Api.Tests;

public abstract class AuthTests(ServerFixture fixture)
{
    private TestServer Server => fixture.Server;

    [Fact]
    public async Task AiApi_NoAuthorizationHeader_401InAiApiShape()
    {
        var response = await Server.Anonymous.GetAsync("/v2/admin/resourceGroups");
        var body = await response.ExpectAsync(HttpStatusCode.Unauthorized);
        Http.AssertJson(
            """{"error":{"code":"Unauthorized","message":"The Authorization header is missing; send 'Authorization: Bearer <token>' with a token from POST /oauth/token or an API token.","requestId":"{requestId}","target":"/resourceGroups"}}""",
            body, response.RequestId());
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
    }

    [Fact]
    public async Task AiApi_UnknownStaticToken_401()
    {
        using var client = Server.NewClient("rl_not-a-real-token");
        var response = await client.GetAsync("/v2/admin/resourceGroups");
        var body = await response.ExpectAsync(HttpStatusCode.Unauthorized);
        Assert.Equal("The bearer token is not known or has been revoked.", (string?)body["error"]!["message"]);
    }

    [Fact]
    public async Task AiApi_TamperedJwt_401()
    {
        var token = await IssueTokenAsync(Server.Anonymous);
        var parts = token.Split('.');
        var forged = parts[0] + "." + parts[1] + "." + new string('A', parts[2].Length);
        using var client = Server.NewClient(forged);
        var body = await (await client.GetAsync("/v2/admin/resourceGroups")).ExpectAsync(HttpStatusCode.Unauthorized);
        Assert.Equal("The bearer token is not a valid token issued by this server.", (string?)body["error"]!["message"]);
    }

    [Fact]
    public async Task OAuth_ClientCredentials_IssuesJwtThatAuthenticates()
    {
        var response = await Server.Anonymous.PostAsync("/oauth/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = TestCredentials.ClientId,
            ["client_secret"] = TestCredentials.ClientSecret,
        }));
        var body = await response.ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("bearer", (string?)body["token_type"]);
        Assert.Equal(3600, (int)body["expires_in"]!);
        var token = (string)body["access_token"]!;

        // The SAP SDK decodes the token as a JWT and reads exp: it must be a real one.
        var payload = JsonNode.Parse(Base64UrlDecode(token.Split('.')[1]))!;
        Assert.True((long)payload["exp"]! > (long)payload["iat"]!);

        using var client = Server.NewClient(token);
        await (await client.GetAsync("/v2/admin/resourceGroups")).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task OAuth_BasicClientAuthentication_IssuesToken()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/oauth/token")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["grant_type"] = "client_credentials" }),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{TestCredentials.ClientId}:{TestCredentials.ClientSecret}")));
        await (await Server.Anonymous.SendAsync(request)).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task OAuth_WrongSecret_401InvalidClient()
    {
        var response = await Server.Anonymous.PostAsync("/oauth/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = TestCredentials.ClientId,
            ["client_secret"] = "wrong",
        }));
        var body = await response.ExpectAsync(HttpStatusCode.Unauthorized);
        Http.AssertJson("""{"error":"invalid_client","error_description":"Unknown client_id or wrong client_secret."}""", body);
    }

    [Fact]
    public async Task OAuth_UnsupportedGrant_400()
    {
        var response = await Server.Anonymous.PostAsync("/oauth/token", new FormUrlEncodedContent(new Dictionary<string, string> { ["grant_type"] = "password" }));
        var body = await response.ExpectAsync(HttpStatusCode.BadRequest);
        Http.AssertJson("""{"error":"unsupported_grant_type","error_description":"grant_type 'password' is not supported; use client_credentials."}""", body);
    }

    [Fact]
    public async Task AiApi_TokenWithoutAdminScope_403OnResourceGroupAdmin()
    {
        var token = await Server.AddCredentialAsync(CredentialKinds.BearerToken, "");
        using var client = Server.NewClient(token);
        var response = await client.GetAsync("/v2/admin/resourceGroups");
        var body = await response.ExpectAsync(HttpStatusCode.Forbidden);
        Http.AssertJson(
            """{"error":{"code":"Forbidden","message":"This credential does not have the 'admin' scope this operation needs.","requestId":"{requestId}","target":"/resourceGroups"}}""",
            body, response.RequestId());
    }

    [Fact]
    public async Task LlmObs_NoKeys_401InJsonApiShape()
    {
        var response = await Server.Anonymous.GetAsync("/api/v2/llm-obs/v1/projects");
        var body = await response.ExpectAsync(HttpStatusCode.Unauthorized);
        Http.AssertJson(
            """{"errors":[{"status":"401","title":"Unauthorized","detail":"The DD-API-KEY header is missing; send your API key in it.","source":{"header":"DD-API-KEY"},"meta":{"code":"Unauthorized","request_id":"{requestId}"}}]}""",
            body, response.RequestId());
    }

    [Fact]
    public async Task LlmObs_UnknownApplicationKey_401NamesTheHeader()
    {
        using var client = Server.NewDatadogClient(TestCredentials.DatadogApiKey, "ffffffffffffffffffffffffffffffffffffffff");
        var body = await (await client.GetAsync("/api/v2/llm-obs/v1/projects")).ExpectAsync(HttpStatusCode.Unauthorized);
        Assert.Equal("DD-APPLICATION-KEY", (string?)body["errors"]![0]!["source"]!["header"]);
    }

    [Fact]
    public async Task LlmObs_ApplicationKeyOfAnotherOrganisation_401()
    {
        var otherOrgAppKey = await Server.AddCredentialAsync(CredentialKinds.DatadogAppKey, "read write", orgId: "other-org");
        using var client = Server.NewDatadogClient(TestCredentials.DatadogApiKey, otherOrgAppKey);
        await (await client.GetAsync("/api/v2/llm-obs/v1/projects")).ExpectAsync(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task LlmObs_ReadOnlyKeyWriting_403AndNothingStored()
    {
        var readOnly = await Server.AddCredentialAsync(CredentialKinds.DatadogAppKey, "read");
        using var client = Server.NewDatadogClient(TestCredentials.DatadogApiKey, readOnly);
        var name = "read-only-" + Guid.NewGuid().ToString("N");
        var response = await client.PostAsync("/api/v2/llm-obs/v1/projects", Http.JsonApi("projects", new JsonObject { ["name"] = name }));
        var body = await response.ExpectAsync(HttpStatusCode.Forbidden);
        Http.AssertJson(
            """{"errors":[{"status":"403","title":"Forbidden","detail":"This application key does not have the 'write' scope this operation needs; use a key with 'write' scope.","source":{"header":"DD-APPLICATION-KEY"},"meta":{"code":"Forbidden","request_id":"{requestId}"}}]}""",
            body, response.RequestId());

        // The read-only key may still read, and what it tried to create does not exist.
        var list = await (await client.GetAsync($"/api/v2/llm-obs/v1/projects?filter[name]={name}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Empty(list["data"]!.AsArray());
    }

    internal static async Task<string> IssueTokenAsync(HttpClient client)
    {
        var response = await client.PostAsync("/oauth/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = TestCredentials.ClientId,
            ["client_secret"] = TestCredentials.ClientSecret,
        }));
        return (string)(await response.ExpectAsync(HttpStatusCode.OK))["access_token"]!;
    }

    private static string Base64UrlDecode(string value)
    {
        var padded = value.Replace('-', '+').Replace('_', '/');
        padded += new string('=', (4 - (padded.Length % 4)) % 4);
        return Encoding.UTF8.GetString(Convert.FromBase64String(padded));
    }
}

public sealed class AuthTestsOnSqlite(SqliteServer fixture) : AuthTests(fixture), IClassFixture<SqliteServer>;

public sealed class AuthTestsOnPostgres(PostgresServer fixture) : AuthTests(fixture), IClassFixture<PostgresServer>;

/// <summary>Token expiry on a server whose clock the test moves.</summary>
public sealed class TokenExpiryTests
{
    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task OAuthToken_AfterExpiry_401SaysExpired(Provider provider)
    {
        var clock = new FakeTimeProvider(DateTimeOffset.Parse("2026-11-23T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        await using var server = await TestServer.StartAsync(
            provider,
            new Dictionary<string, string?> { ["Auth:TokenLifetimeSeconds"] = "600" },
            services => services.AddSingleton<TimeProvider>(clock));
        var token = await AuthTests.IssueTokenAsync(server.Anonymous);
        using var client = server.NewClient(token);
        await (await client.GetAsync("/v2/admin/resourceGroups")).ExpectAsync(HttpStatusCode.OK);

        clock.Advance(TimeSpan.FromSeconds(599));
        await (await client.GetAsync("/v2/admin/resourceGroups")).ExpectAsync(HttpStatusCode.OK);

        clock.Advance(TimeSpan.FromSeconds(2));
        var body = await (await client.GetAsync("/v2/admin/resourceGroups")).ExpectAsync(HttpStatusCode.Unauthorized);
        Assert.Equal("The bearer token has expired; request a new one from POST /oauth/token.", (string?)body["error"]!["message"]);
    }
}
