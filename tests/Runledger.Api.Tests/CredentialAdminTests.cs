using System.Net;
using Runledger.Api.Tests.Support;

namespace Runledger.Api.Tests;

/// <summary><c>/runledger/v1/credentials</c>: each kind created, used, listed without its secret, revoked at once, audited.</summary>
public abstract class CredentialAdminTests(ServerFixture fixture)
{
    private TestServer Server => fixture.Server;

    private async Task<System.Text.Json.Nodes.JsonNode> CreateAsync(string json) =>
        await (await Server.Admin.PostAsync("/runledger/v1/credentials", Http.Json(json))).ExpectAsync(HttpStatusCode.Created);

    private static FormUrlEncodedContent TokenRequest(string clientId, string secret) => new(new Dictionary<string, string>
    {
        ["grant_type"] = "client_credentials",
        ["client_id"] = clientId,
        ["client_secret"] = secret,
    });

    [Fact]
    public async Task BearerToken_CreatedUsedRevoked_RefusedAtOnceAndAudited()
    {
        var created = await CreateAsync("""{"kind":"bearer_token","name":"ci pipeline","scopes":["admin"]}""");
        var id = (string)created["id"]!;
        var secret = (string)created["secret"]!;
        Assert.StartsWith("rl_", secret, StringComparison.Ordinal);
        Http.AssertJson("""["admin"]""", created["scopes"]!);
        Assert.Equal("default", (string?)created["orgId"]);
        Assert.Null(created["revokedAt"]);

        using var client = Server.NewClient(secret);
        await (await client.GetAsync("/v2/admin/resourceGroups")).ExpectAsync(HttpStatusCode.OK);
        await (await client.GetAsync("/runledger/v1/deletions")).ExpectAsync(HttpStatusCode.OK);

        var listed = await (await Server.Admin.GetAsync("/runledger/v1/credentials?kind=bearer_token")).ExpectAsync(HttpStatusCode.OK);
        var mine = listed["credentials"]!.AsArray().Single(c => (string?)c!["id"] == id)!;
        Assert.Null(mine["secret"]);
        Assert.DoesNotContain(secret, listed.ToJsonString(), StringComparison.Ordinal);
        Assert.DoesNotContain("lookupHash", listed.ToJsonString(), StringComparison.Ordinal);
        Assert.Equal("ci pipeline", (string?)mine["name"]);

        var revoked = await (await Server.Admin.DeleteAsync($"/runledger/v1/credentials/{id}")).ExpectAsync(HttpStatusCode.OK);
        Assert.NotNull(revoked["revokedAt"]);
        var refused = await (await client.GetAsync("/v2/admin/resourceGroups")).ExpectAsync(HttpStatusCode.Unauthorized);
        Assert.Equal("The bearer token is not known or has been revoked.", (string?)refused["error"]!["message"]);

        var again = await Server.Admin.DeleteAsync($"/runledger/v1/credentials/{id}");
        Assert.Equal($"Credential '{id}' is already revoked.", (string?)(await again.ExpectAsync(HttpStatusCode.Conflict))["detail"]);
        var active = await (await Server.Admin.GetAsync("/runledger/v1/credentials")).ExpectAsync(HttpStatusCode.OK);
        Assert.DoesNotContain(active["credentials"]!.AsArray(), c => (string?)c!["id"] == id);
        var all = await (await Server.Admin.GetAsync("/runledger/v1/credentials?includeRevoked=true")).ExpectAsync(HttpStatusCode.OK);
        Assert.Contains(all["credentials"]!.AsArray(), c => (string?)c!["id"] == id);

        var audit = await (await Server.Admin.GetAsync($"/runledger/v1/audit?targetKind=credential&targetId={id}")).ExpectAsync(HttpStatusCode.OK);
        var entries = audit["entries"]!.AsArray();
        Assert.Equal(["credential.created", "credential.revoked"], entries.Select(e => (string?)e!["action"]));
        Assert.All(entries, e => Assert.Equal("env-admin-token", (string?)e!["actor"]));
        Assert.Equal("bearer_token 'ci pipeline' scopes [admin]", (string?)entries[0]!["detail"]);
        Assert.DoesNotContain(secret, audit.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task OAuthClient_RevokedClientGetsNoNewTokens_IssuedJwtLastsUntilExpiry()
    {
        var created = await CreateAsync("""{"kind":"oauth_client","name":"sdk","scopes":["admin"]}""");
        var clientId = (string)created["clientId"]!;
        var secret = (string)created["secret"]!;
        var token = await Server.Anonymous.PostAsync("/oauth/token", TokenRequest(clientId, secret));
        var jwt = (string)(await token.ExpectAsync(HttpStatusCode.OK))["access_token"]!;

        await (await Server.Admin.DeleteAsync($"/runledger/v1/credentials/{created["id"]}")).ExpectAsync(HttpStatusCode.OK);
        var refused = await (await Server.Anonymous.PostAsync("/oauth/token", TokenRequest(clientId, secret))).ExpectAsync(HttpStatusCode.Unauthorized);
        Http.AssertJson("""{"error":"invalid_client","error_description":"Unknown client_id or wrong client_secret."}""", refused);

        // Documented: JWTs are checked by signature and lifetime only, so one issued before the revocation works until it expires.
        using var client = Server.NewClient(jwt);
        await (await client.GetAsync("/v2/admin/resourceGroups")).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task DatadogKeys_ScopedAppKey_ReadButNotWrite_RevokedAppKey401()
    {
        var org = "org-" + Guid.NewGuid().ToString("N")[..8];
        var apiKey = (string)(await CreateAsync($$"""{"kind":"dd_api_key","name":"acme api key","orgId":"{{org}}"}"""))["secret"]!;
        var app = await CreateAsync($$"""{"kind":"dd_app_key","name":"reader","scopes":["read"],"orgId":"{{org}}"}""");
        Assert.Equal(32, apiKey.Length);
        Assert.Equal(40, ((string)app["secret"]!).Length);
        using var client = Server.NewDatadogClient(apiKey, (string)app["secret"]!);
        await (await client.GetAsync("/api/v2/llm-obs/v1/projects")).ExpectAsync(HttpStatusCode.OK);
        await (await client.PostAsync("/api/v2/llm-obs/v1/projects", Http.JsonApi("projects", new() { ["name"] = "p" }))).ExpectAsync(HttpStatusCode.Forbidden);

        await (await Server.Admin.DeleteAsync($"/runledger/v1/credentials/{app["id"]}")).ExpectAsync(HttpStatusCode.OK);
        await (await client.GetAsync("/api/v2/llm-obs/v1/projects")).ExpectAsync(HttpStatusCode.Unauthorized);
    }

    [Theory]
    [InlineData("""{"kind":"password","name":"x"}""", "kind 'password' is unknown; use one of bearer_token, oauth_client, dd_api_key, dd_app_key.")]
    [InlineData("""{"kind":"bearer_token"}""", "name is required: 1 to 200 characters that say who or what uses the credential.")]
    [InlineData("""{"kind":"bearer_token","name":"x","scopes":["root"]}""", "scope 'root' is unknown; use admin, read or write.")]
    [InlineData("""{"kind":"dd_api_key","name":"x","scopes":["read"]}""", "a dd_api_key only names the organisation and takes no scopes; give scopes to a dd_app_key instead.")]
    public async Task Create_Invalid_400NamesFieldAndChangesNothing(string json, string detail)
    {
        var before = await (await Server.Admin.GetAsync("/runledger/v1/credentials?includeRevoked=true")).ExpectAsync(HttpStatusCode.OK);
        var response = await Server.Admin.PostAsync("/runledger/v1/credentials", Http.Json(json));
        var body = await response.ExpectAsync(HttpStatusCode.BadRequest);
        Http.AssertJson(
            $$"""{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.1","title":"Bad Request","status":400,"detail":"{{detail}}","code":"InvalidCredential","requestId":"{requestId}"}""",
            body,
            response.RequestId());
        var after = await (await Server.Admin.GetAsync("/runledger/v1/credentials?includeRevoked=true")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(before.ToJsonString(), after.ToJsonString());
    }

    [Fact]
    public async Task Revoke_UnknownOrFromEnvironment_404Or409()
    {
        var missing = await Server.Admin.DeleteAsync("/runledger/v1/credentials/nope");
        Assert.Equal("There is no credential 'nope'; list them with GET /runledger/v1/credentials.", (string?)(await missing.ExpectAsync(HttpStatusCode.NotFound))["detail"]);
        var env = await Server.Admin.DeleteAsync("/runledger/v1/credentials/env-admin-token");
        Assert.Equal(
            "Credential 'env-admin-token' is defined by the environment variable RUNLEDGER_ADMIN_TOKEN; remove or change that variable and restart to revoke it.",
            (string?)(await env.ExpectAsync(HttpStatusCode.Conflict))["detail"]);
        await (await Server.Admin.GetAsync("/runledger/v1/credentials")).ExpectAsync(HttpStatusCode.OK);
    }
}

public sealed class CredentialAdminTestsOnSqlite(SqliteServer fixture) : CredentialAdminTests(fixture), IClassFixture<SqliteServer>;

public sealed class CredentialAdminTestsOnPostgres(PostgresServer fixture) : CredentialAdminTests(fixture), IClassFixture<PostgresServer>;
