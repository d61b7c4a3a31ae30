using System.Net;
using Runledger.Api.Tests.Support;
using Runledger.Server.Runner;

namespace Runledger.Api.Tests;

public abstract class ScenarioConfigurationTests(ServerFixture fixture)
{
    private TestServer Server => fixture.Server;

    [Fact]
    public async Task Scenarios_FromTemplates_ListedWithExecutables()
    {
        using var client = Server.InGroup();
        var list = await (await client.GetAsync("/v2/lm/scenarios")).ExpectAsync(HttpStatusCode.OK);
        var scenario = list["resources"]!.AsArray().Single(s => (string?)s!["id"] == Templates.Scenario)!;
        Assert.Equal("Test scenario", (string?)scenario["name"]);
        Assert.NotNull(scenario["createdAt"]);

        var executables = await (await client.GetAsync($"/v2/lm/scenarios/{Templates.Scenario}/executables")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(
            [Templates.Environment, Templates.Missing, Templates.Quick, Templates.Sleeper, Templates.Stubborn],
            executables["resources"]!.AsArray().Select(e => (string)e!["id"]!));

        var quick = await (await client.GetAsync($"/v2/lm/scenarios/{Templates.Scenario}/executables/{Templates.Quick}")).ExpectAsync(HttpStatusCode.OK);
        Http.AssertJson("""[{"name":"who","type":"string","default":"world"},{"name":"code","type":"string","default":"0"}]""", quick["parameters"]!);
        Assert.Equal("1.0", (string?)quick["versionId"]);
        Assert.False((bool)quick["deployable"]!);
    }

    [Fact]
    public async Task Scenarios_Unknown_404AndInvalidId_400()
    {
        using var client = Server.InGroup();
        var response = await client.GetAsync("/v2/lm/scenarios/no-such-scenario");
        var body = await response.ExpectAsync(HttpStatusCode.NotFound);
        Http.AssertJson("""{"error":{"code":"ScenarioNotFound","message":"Scenario 'no-such-scenario' does not exist.","requestId":"{requestId}","target":"/scenarios/no-such-scenario"}}""", body, response.RequestId());
        await (await client.GetAsync("/v2/lm/scenarios/x")).ExpectAsync(HttpStatusCode.BadRequest);
        await (await client.GetAsync($"/v2/lm/scenarios/{Templates.Scenario}/executables/nope-nope")).ExpectAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task LmRoutes_WithoutOrUnknownResourceGroup_400And404()
    {
        var missing = await (await Server.Admin.GetAsync("/v2/lm/scenarios")).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("The AI-Resource-Group header is required; name the resource group to work in (e.g. 'default').", (string?)missing["error"]!["message"]);
        using var client = Server.InGroup("no-such-group");
        var response = await client.GetAsync("/v2/lm/executions");
        var unknown = await response.ExpectAsync(HttpStatusCode.NotFound);
        Http.AssertJson("""{"error":{"code":"ResourceGroupNotFound","message":"Resource group 'no-such-group' (from the AI-Resource-Group header) does not exist.","requestId":"{requestId}","target":"/executions"}}""", unknown, response.RequestId());
    }

    [Fact]
    public async Task Configuration_Create_201WithLocationThenReadable()
    {
        using var client = Server.InGroup();
        var response = await client.PostAsync("/v2/lm/configurations", Http.Json($$"""{"name":"My config","scenarioId":"{{Templates.Scenario}}","executableId":"{{Templates.Quick}}","parameterBindings":[{"key":"who","value":"tests"}]}"""));
        var created = await response.ExpectAsync(HttpStatusCode.Created);
        var id = (string)created["id"]!;
        Assert.Equal("Configuration created", (string?)created["message"]);
        Assert.Equal($"/v2/lm/configurations/{id}", response.Headers.Location?.OriginalString);

        var body = await (await client.GetAsync($"/v2/lm/configurations/{id}?$expand=scenario")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("My config", (string?)body["name"]);
        Assert.Equal(Templates.Quick, (string?)body["executableId"]);
        Http.AssertJson("""[{"key":"who","value":"tests"}]""", body["parameterBindings"]!);
        Assert.Equal(Templates.Scenario, (string?)body["scenario"]!["id"]);
    }

    [Theory]
    [InlineData("""{"name":"c","scenarioId":"nope-scn","executableId":"quick-exec"}""", "UnknownScenario", "Scenario 'nope-scn' does not exist; GET /v2/lm/scenarios lists the scenarios.")]
    [InlineData("""{"name":"c","scenarioId":"test-scenario","executableId":"nope-exec"}""", "UnknownExecutable", "Executable 'nope-exec' does not exist in scenario 'test-scenario'; GET /v2/lm/scenarios/test-scenario/executables lists them.")]
    [InlineData("""{"name":"c","scenarioId":"test-scenario","executableId":"quick-exec","parameterBindings":[{"key":"epochs","value":"3"}]}""", "UnknownParameter", "parameterBindings[0]: executable 'quick-exec' declares no parameter 'epochs' (declared: who, code).")]
    [InlineData("""{"name":"c","scenarioId":"test-scenario","executableId":"quick-exec","parameterBindings":[{"key":"who","value":"a"},{"key":"who","value":"b"}]}""", "DuplicateParameter", "parameterBindings[1]: parameter 'who' is bound more than once.")]
    [InlineData("""{"name":"c","scenarioId":"test-scenario","executableId":"quick-exec","inputArtifactBindings":[{"key":"data","artifactId":"a1b2c3d4"}]}""", "UnknownInputArtifact", "inputArtifactBindings[0]: executable 'quick-exec' declares no input artifact 'data'.")]
    [InlineData("""{"scenarioId":"test-scenario","executableId":"quick-exec"}""", "InvalidConfiguration", "name is required.")]
    [InlineData("""{"name":"c","scenarioId":"x","executableId":"quick-exec"}""", "InvalidConfiguration", "scenarioId 'x' is missing or invalid: use 4 to 64 letters, digits, '_', '.' or '-'.")]
    public async Task Configuration_Invalid_400NamesTheProblemAndNothingStored(string json, string code, string message)
    {
        using var client = Server.InGroup();
        var before = await (await client.GetAsync("/v2/lm/configurations/$count")).Content.ReadAsStringAsync();
        var response = await client.PostAsync("/v2/lm/configurations", Http.Json(json));
        var body = await response.ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal(code, (string?)body["error"]!["code"]);
        Assert.Equal(message, (string?)body["error"]!["message"]);
        Assert.Equal(before, await (await client.GetAsync("/v2/lm/configurations/$count")).Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Configuration_ListFiltersSearchPagingAndCount()
    {
        var group = "cfg-" + Guid.NewGuid().ToString("N")[..10];
        await (await Server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json("{\"resourceGroupId\":\"" + group + "\"}"))).ExpectAsync(HttpStatusCode.Accepted);
        using var client = Server.InGroup(group);
        foreach (var (name, executable) in new[] { ("Alpha run", Templates.Quick), ("beta RUN", Templates.Quick), ("gamma", Templates.Sleeper) })
        {
            await (await client.PostAsync("/v2/lm/configurations", Http.Json($$"""{"name":"{{name}}","scenarioId":"{{Templates.Scenario}}","executableId":"{{executable}}"}"""))).ExpectAsync(HttpStatusCode.Created);
        }

        async Task<List<string>> Names(string query)
        {
            var body = await (await client.GetAsync("/v2/lm/configurations" + query)).ExpectAsync(HttpStatusCode.OK);
            Assert.Equal(body["resources"]!.AsArray().Count, (int)body["count"]!);
            return body["resources"]!.AsArray().Select(c => (string)c!["name"]!).Order(StringComparer.Ordinal).ToList();
        }

        Assert.Equal(["Alpha run", "beta RUN", "gamma"], await Names(""));
        Assert.Equal(["Alpha run", "beta RUN"], await Names($"?executableIds={Templates.Quick}"));
        Assert.Equal(["Alpha run", "beta RUN", "gamma"], await Names($"?executableIds={Templates.Quick},{Templates.Sleeper}&scenarioId={Templates.Scenario}"));
        Assert.Equal(["Alpha run"], await Names("?$search=run"));
        Assert.Equal(["Alpha run", "beta RUN"], await Names("?$search=run&searchCaseInsensitive=true"));
        Assert.Equal(2, (await Names("?$top=2")).Count);
        Assert.Single(await Names("?$top=2&$skip=2"));
        Assert.Empty(await Names("?scenarioId=other-scenario"));

        var count = await client.GetAsync($"/v2/lm/configurations/$count?executableIds={Templates.Quick}");
        Assert.Equal("text/plain", count.Content.Headers.ContentType?.MediaType);
        Assert.Equal("2", await count.Content.ReadAsStringAsync());

        var bad = await (await client.GetAsync("/v2/lm/configurations?$top=100001")).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("$top is '100001'; it must be a whole number from 0 to 100000.", (string?)bad["error"]!["message"]);
        await (await client.GetAsync("/v2/lm/configurations?$search=a~b")).ExpectAsync(HttpStatusCode.BadRequest);
        await (await client.GetAsync("/v2/lm/configurations?$expand=executable")).ExpectAsync(HttpStatusCode.BadRequest);

        // Another group sees none of them.
        using var other = Server.InGroup();
        var otherList = await (await other.GetAsync("/v2/lm/configurations?$search=gamma")).ExpectAsync(HttpStatusCode.OK);
        Assert.Empty(otherList["resources"]!.AsArray());
    }

    [Fact]
    public async Task Templates_NewFileAppearsBrokenFileIsReportedOthersStay()
    {
        var catalog = Server.Service<TemplateCatalog>();
        Templates.Write(catalog.Directory, "added.yaml", "added-exec", """
              command: ["true"]
            """, scenario: "added-scenario");
        File.WriteAllText(Path.Combine(catalog.Directory, "broken.yaml"), "scenario:\n  id: broken-scn\n  name: [unclosed\n");
        var snapshot = catalog.Reload();

        Assert.True(snapshot.Scenarios.ContainsKey("added-scenario"));
        Assert.True(snapshot.Executables.ContainsKey(Templates.Quick));
        var error = Assert.Single(snapshot.Errors);
        Assert.EndsWith("broken.yaml", error.File, StringComparison.Ordinal);
        Assert.True(error.Line >= 3, $"line {error.Line}");
        using var client = Server.InGroup();
        await (await client.GetAsync("/v2/lm/scenarios/added-scenario")).ExpectAsync(HttpStatusCode.OK);

        File.Delete(Path.Combine(catalog.Directory, "added.yaml"));
        File.Delete(Path.Combine(catalog.Directory, "broken.yaml"));
        catalog.Reload();
        await (await client.GetAsync("/v2/lm/scenarios/added-scenario")).ExpectAsync(HttpStatusCode.NotFound);
    }
}

public sealed class ScenarioConfigurationTestsOnSqlite(SqliteRunnerServer fixture) : ScenarioConfigurationTests(fixture), IClassFixture<SqliteRunnerServer>;

public sealed class ScenarioConfigurationTestsOnPostgres(PostgresRunnerServer fixture) : ScenarioConfigurationTests(fixture), IClassFixture<PostgresRunnerServer>;

/// <summary>The folder is watched: a file dropped in while the server runs is served without a reload call.</summary>
public sealed class TemplateWatchTests
{
    [Fact]
    public async Task Templates_FileWrittenWhileRunning_ServedWithoutRestart()
    {
        var dir = Templates.CreateDirectory();
        await using var server = await TestServer.StartAsync(Provider.Sqlite, new Dictionary<string, string?> { ["Runner:TemplatesDir"] = dir });
        using var client = server.InGroup();
        await (await client.GetAsync("/v2/lm/scenarios/watched-scenario")).ExpectAsync(HttpStatusCode.NotFound);
        Templates.Write(dir, "watched.yaml", "watched-exec", """
              command: ["true"]
            """, scenario: "watched-scenario");

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while ((await client.GetAsync("/v2/lm/scenarios/watched-scenario", timeout.Token)).StatusCode != HttpStatusCode.OK)
        {
            await Task.Delay(50, timeout.Token);
        }
    }
}
