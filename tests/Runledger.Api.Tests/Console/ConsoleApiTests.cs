using System.Net;
using System.Text.Json.Nodes;
using Runledger.Api.Tests.Support;
using Runledger.Storage.Credentials;

namespace Runledger.Api.Tests.WebConsole;

/// <summary>The console's JSON API over real HTTP: session, CSRF, permissions, keyset paging, down-sampling, several nodes.</summary>
public abstract class ConsoleApiTests(ClockedServer fixture)
{
    private TestServer Server => fixture.Server;

    [Fact]
    public async Task SignIn_UnknownCredential_401AndNoSession()
    {
        using var session = new ConsoleClient(Server.BaseAddress);
        var response = await session.SendAsync(HttpMethod.Post, "/ui/api/session", """{"credential":"rl_nope"}""");
        var body = await response.ExpectAsync(HttpStatusCode.Unauthorized);
        Http.AssertJson(
            """{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.2","title":"Unauthorized","status":401,"detail":"This credential is not known or has been revoked; check that you pasted the whole token or key.","code":"CredentialUnknown","requestId":"{requestId}"}""",
            body, response.RequestId());
        var state = await (await session.Client.GetAsync("/ui/api/session")).ExpectAsync(HttpStatusCode.OK);
        Assert.False((bool)state["signedIn"]!);
        await (await session.Client.GetAsync("/ui/api/resource-groups/")).ExpectAsync(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task StateChange_WithoutCsrfHeader_403AndNothingChanges()
    {
        var rg = await ConsoleSeed.ResourceGroupAsync(Server);
        using var session = await ConsoleClient.SignInAsync(Server.BaseAddress, TestCredentials.AdminToken);
        var response = await session.Client.PutAsync($"/ui/api/admin/holds/resource_group/{rg}", Http.Json("""{"reason":"case 7"}"""));
        var body = await response.ExpectAsync(HttpStatusCode.Forbidden);
        Http.AssertJson(
            """{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.4","title":"Forbidden","status":403,"detail":"The X-CSRF-TOKEN header is missing or does not match this session; reload the console and try again.","code":"CsrfTokenInvalid","requestId":"{requestId}"}""",
            body, response.RequestId());
        Assert.Equal(0, await Server.CountAsync("SELECT COUNT(*) FROM legal_holds WHERE target_id = @rg", new { rg }));

        // With the header it goes through (the admin API's own handler answers).
        await (await session.SendAsync(HttpMethod.Put, $"/ui/api/admin/holds/resource_group/{rg}", """{"reason":"case 7"}""")).ExpectAsync(HttpStatusCode.Created);
        Assert.Equal(1, await Server.CountAsync("SELECT COUNT(*) FROM legal_holds WHERE target_id = @rg", new { rg }));
        await (await session.SendAsync(HttpMethod.Delete, $"/ui/api/admin/holds/resource_group/{rg}")).ExpectAsync(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task Session_ReadOnlyDatadogKey_RunsAndDeletesRefused()
    {
        var key = await Server.AddCredentialAsync(CredentialKinds.DatadogAppKey, "read");
        using var session = await ConsoleClient.SignInAsync(Server.BaseAddress, key);
        var me = await (await session.Client.GetAsync("/ui/api/session")).ExpectAsync(HttpStatusCode.OK);
        Http.AssertJson("""{"runs":false,"runsWrite":false,"llm":true,"llmWrite":false,"admin":false}""", me["can"]!);
        await (await session.Client.GetAsync("/ui/api/resource-groups/")).ExpectAsync(HttpStatusCode.Forbidden);
        await (await session.Client.GetAsync("/ui/api/admin/audit/verify")).ExpectAsync(HttpStatusCode.Forbidden);
        var response = await session.SendAsync(HttpMethod.Post, "/ui/api/deletions", """{"kind":"llm_experiment","id":"x"}""");
        var body = await response.ExpectAsync(HttpStatusCode.Forbidden);
        Assert.Equal("This session may not delete kind 'llm_experiment' here.", (string?)body["detail"]);
        await (await session.Client.GetAsync("/ui/api/llm-obs/v1/projects")).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Executions_KeysetPages_EveryExecutionOnceNewestFirst()
    {
        var rg = await ConsoleSeed.ResourceGroupAsync(Server);
        await ConsoleSeed.RunsAsync(Server, rg);
        using var session = await ConsoleClient.SignInAsync(Server.BaseAddress, TestCredentials.AdminToken);
        var seen = new List<string>();
        string? cursor = null;
        var sizes = new List<int>();
        do
        {
            var page = await (await session.Client.GetAsync($"/ui/api/resource-groups/{rg}/executions?limit=25{(cursor is null ? "" : "&cursor=" + cursor)}")).ExpectAsync(HttpStatusCode.OK);
            var items = page["resources"]!.AsArray();
            sizes.Add(items.Count);
            seen.AddRange(items.Select(e => (string)e!["id"]!));
            cursor = (string?)page["nextCursor"];
        }
        while (cursor is not null);

        Assert.Equal([25, 25, 11], sizes);
        Assert.Equal([rg + "-pending", .. Enumerable.Range(1, 60).Select(i => $"{rg}-ex-{i}")], seen);

        // (The runner may have claimed the pending one meanwhile; the completed ones stay as seeded.)
        var completed = await (await session.Client.GetAsync($"/ui/api/resource-groups/{rg}/executions?status=COMPLETED&limit=100")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(Enumerable.Range(1, 60).Select(i => $"{rg}-ex-{i}"), completed["resources"]!.AsArray().Select(e => (string)e!["id"]!));
        var bad = await session.Client.GetAsync($"/ui/api/resource-groups/{rg}/executions?cursor=nonsense");
        Http.AssertJson(
            """{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.1","title":"Bad Request","status":400,"detail":"cursor is not one this server gave out; pass nextCursor of the previous page unchanged.","code":"InvalidParameter","requestId":"{requestId}"}""",
            await bad.ExpectAsync(HttpStatusCode.BadRequest), bad.RequestId());
    }

    [Fact]
    public async Task Metrics_DownsampledOnTheServer_KeepsEndsAndExtremes()
    {
        var rg = await ConsoleSeed.ResourceGroupAsync(Server);
        await ConsoleSeed.RunsAsync(Server, rg);
        using var session = await ConsoleClient.SignInAsync(Server.BaseAddress, TestCredentials.AdminToken);
        var body = await (await session.Client.GetAsync($"/ui/api/resource-groups/{rg}/metrics?executionIds={rg}-ex-1,{rg}-ex-2&maxPoints=100")).ExpectAsync(HttpStatusCode.OK);
        var series = body["series"]!.AsArray();
        Assert.Equal([$"{rg}-ex-1 accuracy", $"{rg}-ex-1 loss", $"{rg}-ex-2 accuracy", $"{rg}-ex-2 loss"], series.Select(s => $"{s!["executionId"]} {s["name"]}"));
        Assert.Equal([5000, 5000, 800, 800], series.Select(s => (int)s!["total"]!));
        Assert.All(series, s => Assert.Equal("step", (string?)s!["axis"]));
        Assert.All(series, s => Assert.Equal(100, s!["points"]!.AsArray().Count));
        var loss = series[1]!["points"]!.AsArray().Select(p => ((double)p![0]!, (double)p[1]!)).ToList();
        Assert.Equal(0, loss[0].Item1);
        Assert.Equal(4999, loss[^1].Item1);
        Assert.Equal(loss.OrderBy(p => p.Item1).ToList(), loss);
        Assert.Equal(2.5, loss.Max(p => p.Item2), 1);

        var tooMany = await session.Client.GetAsync($"/ui/api/resource-groups/{rg}/metrics?executionIds={string.Join(',', Enumerable.Range(1, 11).Select(i => $"{rg}-ex-{i}"))}");
        Assert.Equal("executionIds must list 1 to 10 execution ids, comma-separated.", (string?)(await tooMany.ExpectAsync(HttpStatusCode.BadRequest))["detail"]);
    }

    [Fact]
    public async Task Session_FromOneNode_AcceptedByAnotherOnTheSameStore()
    {
        var rg = await ConsoleSeed.ResourceGroupAsync(Server);
        await ConsoleSeed.RunsAsync(Server, rg);
        using var first = await ConsoleClient.SignInAsync(Server.BaseAddress, TestCredentials.AdminToken);
        await using var other = await TestServer.StartAsync(
            Server.Provider,
            new Dictionary<string, string?> { ["Lifecycle:WorkerEnabled"] = "false" },
            services => services.AddSingleton<TimeProvider>(fixture.Clock),
            dataDir: Server.DataDir,
            postgres: Server.PostgresConnectionString);
        using var second = first.MovedTo(other.BaseAddress);

        // The cookie and the antiforgery token made by the first node work on the second.
        var me = await (await second.Client.GetAsync("/ui/api/session")).ExpectAsync(HttpStatusCode.OK);
        Assert.True((bool)me["signedIn"]!);
        var preview = await (await second.SendAsync(HttpMethod.Post, "/ui/api/deletions/preview", "{\"kind\":\"resource_group\",\"id\":\"" + rg + "\"}")).ExpectAsync(HttpStatusCode.OK);
        Assert.True((bool)preview["found"]!);
        await (await second.SendAsync(HttpMethod.Delete, "/ui/api/session")).ExpectAsync(HttpStatusCode.NoContent);
        await (await second.Client.GetAsync("/ui/api/resource-groups/")).ExpectAsync(HttpStatusCode.Unauthorized);
    }
}

/// <summary>An HTTP client with a cookie jar and the antiforgery token, as the console's script uses the API.</summary>
internal sealed class ConsoleClient : IDisposable
{
    private readonly CookieContainer _cookies;
    private readonly Uri _baseAddress;

    public ConsoleClient(Uri baseAddress, CookieContainer? cookies = null)
    {
        _baseAddress = baseAddress;
        _cookies = cookies ?? new CookieContainer();
        Client = new HttpClient(new HttpClientHandler { CookieContainer = _cookies }) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    public HttpClient Client { get; }

    public string Csrf { get; private set; } = "";

    public static async Task<ConsoleClient> SignInAsync(Uri baseAddress, string credential)
    {
        var session = new ConsoleClient(baseAddress);
        var signedIn = await (await session.SendAsync(HttpMethod.Post, "/ui/api/session", new JsonObject { ["credential"] = credential }.ToJsonString())).ExpectAsync(HttpStatusCode.OK);
        Assert.True((bool)signedIn["signedIn"]!);
        session.Csrf = (string)signedIn["csrf"]!;
        return session;
    }

    /// <summary>Sends with the X-CSRF-TOKEN header (fetched first when this client has none yet).</summary>
    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? json = null)
    {
        if (Csrf.Length == 0)
        {
            Csrf = (string)(await (await Client.GetAsync("/ui/api/session")).ExpectAsync(HttpStatusCode.OK))["csrf"]!;
        }

        using var request = new HttpRequestMessage(method, path) { Content = json is null ? null : Http.Json(json) };
        request.Headers.Add("X-CSRF-TOKEN", Csrf);
        return await Client.SendAsync(request);
    }

    /// <summary>The same cookies and token, sent to another node.</summary>
    public ConsoleClient MovedTo(Uri other)
    {
        var jar = new CookieContainer();
        foreach (Cookie cookie in _cookies.GetCookies(new Uri(_baseAddress, "/ui/api")))
        {
            jar.Add(new Uri(other, "/ui/api"), new Cookie(cookie.Name, cookie.Value, cookie.Path));
        }

        return new ConsoleClient(other, jar) { Csrf = Csrf };
    }

    public void Dispose() => Client.Dispose();
}

public sealed class ConsoleApiTestsOnSqlite(SqliteClockedServer fixture) : ConsoleApiTests(fixture), IClassFixture<SqliteClockedServer>;

public sealed class ConsoleApiTestsOnPostgres(PostgresClockedServer fixture) : ConsoleApiTests(fixture), IClassFixture<PostgresClockedServer>;
