using System.Net;
using System.Text.Json.Nodes;
using Dapper;
using Runledger.Api.Tests.Support;
using Runledger.Server.Lifecycle;
using Runledger.Server.Runner;
using Runledger.Storage;

namespace Runledger.Api.Tests;

/// <summary>
/// Bulk and pending-state behaviour on a node that neither starts processes nor works deletion
/// jobs (an API-only node), so every state can be set up exactly and the loops triggered by hand.
/// </summary>
public abstract class ExecutionBulkTests(ServerFixture fixture)
{
    private TestServer Server => fixture.Server;

    /// <summary>Inserts executions with the given statuses straight into the store (set-based).</summary>
    private async Task<List<string>> SeedAsync(string group, string status, int count)
    {
        var prefix = status.ToLowerInvariant() + "-" + Guid.NewGuid().ToString("N")[..8] + "-";
        await using var connection = await Server.Service<IDatabase>().OpenAsync(CancellationToken.None);
        await connection.ExecuteAsync(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < @count) " +
            "INSERT INTO executions (id, resource_group, configuration_id, executable_id, scenario_id, target_status, status, created_at, modified_at) " +
            "SELECT @prefix || i, @group, 'cfg-seeded', 'quick-exec', 'test-scenario', 'COMPLETED', @status, i, i FROM s",
            new { prefix, group, status, count = (long)count });
        return Enumerable.Range(1, count).Select(i => prefix + i).ToList();
    }

    private async Task<string> NewGroupAsync()
    {
        var group = "bulk-" + Guid.NewGuid().ToString("N")[..10];
        await (await Server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json("{\"resourceGroupId\":\"" + group + "\"}"))).ExpectAsync(HttpStatusCode.Accepted);
        return group;
    }

    private static StringContent Bulk(IEnumerable<(string Id, string Target)> items) => Http.Json(
        new JsonObject { ["executions"] = new JsonArray(items.Select(i => (JsonNode)new JsonObject { ["id"] = i.Id, ["targetStatus"] = i.Target }).ToArray()) }.ToJsonString(),
        "application/merge-patch+json");

    private async Task<string> StatusAsync(string group, string id)
    {
        await using var connection = await Server.Service<IDatabase>().OpenAsync(CancellationToken.None);
        return await connection.ExecuteScalarAsync<string>("SELECT status FROM executions WHERE resource_group = @group AND id = @id", new { group, id }) ?? "(gone)";
    }

    [Fact]
    public async Task Bulk_HundredMixedItems_OneResultEachInOrder()
    {
        var group = await NewGroupAsync();
        using var client = Server.InGroup(group);
        var completed = await SeedAsync(group, "COMPLETED", 40);
        var pending = await SeedAsync(group, "PENDING", 30);
        var running = await SeedAsync(group, "RUNNING", 20);
        var unknownIds = Enumerable.Range(0, 10).Select(i => $"no-such-{i:D4}").ToList();
        var items = completed.Select(id => (id, "DELETED"))
            .Concat(pending.Take(20).Select(id => (id, "STOPPED")))
            .Concat(pending.Skip(20).Select(id => (id, "DELETED")))
            .Concat(running.Select(id => (id, "STOPPED")))
            .Concat(unknownIds.Select(id => (id, "DELETED")))
            .ToList();
        Assert.Equal(100, items.Count);

        var response = await client.PatchAsync("/v2/lm/executions", Bulk(items));
        var results = (await response.ExpectAsync(HttpStatusCode.Accepted))["executions"]!.AsArray();
        Assert.Equal(items.Select(i => i.Item1), results.Select(r => (string)r!["id"]!));
        for (var i = 0; i < 100; i++)
        {
            var result = results[i]!;
            if (i < 60 || (i >= 70 && i < 90))
            {
                Assert.Equal("Execution modification scheduled", (string?)result["message"]);
                Assert.Null(result["error"]);
            }
            else if (i < 70)
            {
                Assert.Equal("ExecutionNotDeletable", (string?)result["error"]!["code"]);
                Assert.Equal($"Execution '{items[i].Item1}' is PENDING; stop it first (PATCH /v2/lm/executions/{items[i].Item1} with {{\"targetStatus\":\"STOPPED\"}}) and delete it once it is STOPPED.", (string?)result["error"]!["message"]);
            }
            else
            {
                Http.AssertJson($$$"""{"id":"{{{items[i].Item1}}}","error":{"code":"ExecutionNotFound","message":"Execution '{{{items[i].Item1}}}' does not exist in resource group '{{{group}}}'."}}""", result);
            }
        }

        // What is left in the store: deletes hidden at once, stops applied, refused items untouched.
        Assert.Equal("50", await (await client.GetAsync("/v2/lm/executions/$count")).Content.ReadAsStringAsync());
        Assert.Equal("STOPPED", await StatusAsync(group, pending[0]));
        Assert.Equal("PENDING", await StatusAsync(group, pending[25]));
        Assert.Equal("STOPPING", await StatusAsync(group, running[0]));
        var deleting = await (await client.GetAsync($"/v2/lm/executions/{completed[0]}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("DELETED", (string?)deleting["targetStatus"]);
        Assert.Equal(40, response.Headers.GetValues("Runledger-Deletion-Job").Single().Split(',').Length);

        while (await Server.Service<DeletionWorker>().RunOnceAsync(CancellationToken.None))
        {
        }

        await (await client.GetAsync($"/v2/lm/executions/{completed[0]}")).ExpectAsync(HttpStatusCode.NotFound);
        Assert.Equal("(gone)", await StatusAsync(group, completed[39]));
    }

    [Theory]
    [InlineData(101, false, "executions has 101 items; at most 100 may be changed in one request.")]
    [InlineData(3, true, "executions[2].id '{0}' appears more than once; each execution may appear once per request (send another request for a second change).")]
    [InlineData(0, false, "executions must list 1 to 100 items of {{\"id\", \"targetStatus\"}}.")]
    public async Task Bulk_InvalidRequest_400AndNothingChanges(int count, bool duplicate, string message)
    {
        var group = await NewGroupAsync();
        using var client = Server.InGroup(group);
        var ids = await SeedAsync(group, "COMPLETED", Math.Max(count, 1));
        var items = ids.Take(count).Select(id => (id, "DELETED")).ToList();
        if (duplicate)
        {
            items[2] = (items[0].id, "DELETED");
        }

        var response = await client.PatchAsync("/v2/lm/executions", Bulk(items));
        var body = await response.ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("InvalidBulkRequest", (string?)body["error"]!["code"]);
        Assert.Equal(string.Format(System.Globalization.CultureInfo.InvariantCulture, message, ids[0]), (string?)body["error"]!["message"]);
        Assert.Equal(Math.Max(count, 1).ToString(System.Globalization.CultureInfo.InvariantCulture), await (await client.GetAsync("/v2/lm/executions/$count")).Content.ReadAsStringAsync());
        var jobs = await (await Server.Admin.GetAsync($"/runledger/v1/deletions?scope={group}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Empty(jobs["jobs"]!.AsArray());
    }

    [Fact]
    public async Task Bulk_WrongTargetStatusOrContentType_400()
    {
        var group = await NewGroupAsync();
        using var client = Server.InGroup(group);
        var ids = await SeedAsync(group, "COMPLETED", 1);
        var body = await (await client.PatchAsync("/v2/lm/executions", Bulk([(ids[0], "RUNNING")]))).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("executions[0].targetStatus 'RUNNING' is not supported; use STOPPED or DELETED.", (string?)body["error"]!["message"]);
        await (await client.PatchAsync("/v2/lm/executions", Http.Json("{}", "text/plain"))).ExpectAsync(HttpStatusCode.UnsupportedMediaType);
    }

    [Fact]
    public async Task Delete_WhileJobQueued_GetShowsDeletedListAndCountExclude()
    {
        var group = await NewGroupAsync();
        using var client = Server.InGroup(group);
        var ids = await SeedAsync(group, "COMPLETED", 2);
        var response = await client.DeleteAsync($"/v2/lm/executions/{ids[0]}");
        await response.ExpectAsync(HttpStatusCode.Accepted);

        var shown = await (await client.GetAsync($"/v2/lm/executions/{ids[0]}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("DELETED", (string?)shown["targetStatus"]);
        Assert.Equal("COMPLETED", (string?)shown["status"]);
        var list = await (await client.GetAsync("/v2/lm/executions")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([ids[1]], list["resources"]!.AsArray().Select(e => (string)e!["id"]!));
        Assert.Equal("1", await (await client.GetAsync("/v2/lm/executions/$count")).Content.ReadAsStringAsync());
        await (await client.DeleteAsync($"/v2/lm/executions/{ids[0]}")).ExpectAsync(HttpStatusCode.NotFound);
        await (await client.PatchAsync($"/v2/lm/executions/{ids[0]}", Http.Json("""{"targetStatus":"STOPPED"}"""))).ExpectAsync(HttpStatusCode.NotFound);

        var job = await (await Server.Admin.GetAsync($"/runledger/v1/deletions/{response.JobId()}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("queued", (string?)job["state"]);
        while (await Server.Service<DeletionWorker>().RunOnceAsync(CancellationToken.None))
        {
        }

        await (await client.GetAsync($"/v2/lm/executions/{ids[0]}")).ExpectAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Pending_StopIsImmediateAndDeleteRefused()
    {
        var group = await NewGroupAsync();
        using var client = Server.InGroup(group);
        var configuration = await client.CreateConfigurationAsync(Templates.Quick);
        var id = await client.StartExecutionAsync(configuration);
        var delete = await (await client.DeleteAsync($"/v2/lm/executions/{id}")).ExpectAsync(HttpStatusCode.PreconditionFailed);
        Assert.Equal("ExecutionNotDeletable", (string?)delete["error"]!["code"]);

        await (await client.PatchAsync($"/v2/lm/executions/{id}", Http.Json("""{"targetStatus":"STOPPED"}"""))).ExpectAsync(HttpStatusCode.Accepted);
        var stopped = await (await client.GetAsync($"/v2/lm/executions/{id}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("STOPPED", (string?)stopped["status"]);
        Assert.Equal("Stopped before it started", (string?)stopped["statusMessage"]);
        await (await client.DeleteAsync($"/v2/lm/executions/{id}")).ExpectAsync(HttpStatusCode.Accepted);
    }

    [Fact]
    public async Task BulkDisabled_MetaSaysSoAndBulkAnswers400()
    {
        await using var server = await TestServer.StartAsync(Server.Provider, new Dictionary<string, string?> { ["Runner:BulkUpdates"] = "false", ["Runner:MaxRunningCount"] = "4" });
        var meta = await (await server.Admin.GetAsync("/v2/lm/meta")).ExpectAsync(HttpStatusCode.OK);
        Assert.False((bool)meta["aiApi"]!["capabilities"]!["bulkUpdates"]!["executions"]!);
        Assert.Equal(4, (int)meta["aiApi"]!["limits"]!["executions"]!["maxRunningCount"]!);
        using var client = server.InGroup();
        var body = await (await client.PatchAsync("/v2/lm/executions", Bulk([("abcd1234", "DELETED")]))).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("BulkUpdatesDisabled", (string?)body["error"]!["code"]);
    }
}

public abstract class ApiOnlyServer(Provider provider) : ServerFixture(provider)
{
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Runner:TemplatesDir"] = Templates.CreateDirectory(),
        ["Runner:Enabled"] = "false",
        ["Lifecycle:WorkerEnabled"] = "false",
    };
}

public sealed class SqliteApiOnlyServer() : ApiOnlyServer(Provider.Sqlite);

public sealed class PostgresApiOnlyServer() : ApiOnlyServer(Provider.Postgres);

public sealed class ExecutionBulkTestsOnSqlite(SqliteApiOnlyServer fixture) : ExecutionBulkTests(fixture), IClassFixture<SqliteApiOnlyServer>;

public sealed class ExecutionBulkTestsOnPostgres(PostgresApiOnlyServer fixture) : ExecutionBulkTests(fixture), IClassFixture<PostgresApiOnlyServer>;

/// <summary>Runner limits and restarts.</summary>
public sealed class RunnerTests
{
    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task MaxRunningCount_SecondWaitsUntilFirstStops(Provider provider)
    {
        await using var server = await TestServer.StartAsync(provider, new Dictionary<string, string?>
        {
            ["Runner:TemplatesDir"] = Templates.CreateDirectory(),
            ["Runner:MaxRunningCount"] = "1",
            ["Runner:PollSeconds"] = "0.1",
        });
        using var client = server.InGroup();
        var configuration = await client.CreateConfigurationAsync(Templates.Sleeper);
        var first = await client.StartExecutionAsync(configuration);
        await client.WaitForStatusAsync(first, "RUNNING");
        var second = await client.StartExecutionAsync(configuration);

        // Several passes of the loop: the second must stay pending while the first runs.
        for (var i = 0; i < 3; i++)
        {
            await server.Service<ExecutionSupervisor>().RunOnceAsync(CancellationToken.None);
        }

        await client.WaitForStatusAsync(second, "PENDING", timeoutSeconds: 1);
        await (await client.PatchAsync($"/v2/lm/executions/{first}", Http.Json("""{"targetStatus":"STOPPED"}"""))).ExpectAsync(HttpStatusCode.Accepted);
        await client.WaitForStatusAsync(first, "STOPPED");
        await client.WaitForStatusAsync(second, "RUNNING");
        await (await client.PatchAsync($"/v2/lm/executions/{second}", Http.Json("""{"targetStatus":"STOPPED"}"""))).ExpectAsync(HttpStatusCode.Accepted);
        await client.WaitForStatusAsync(second, "STOPPED");
    }

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task ServerKilledWhileExecutionRuns_RestartMarksItDeadWithReason(Provider provider)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "runledger-tests", Guid.NewGuid().ToString("N"));
        var postgres = provider == Provider.Postgres ? await Postgres.CreateDatabaseAsync() : null;
        var settings = TestCredentials.Settings();
        settings["Storage:DataDir"] = dataDir;
        settings["Storage:Postgres"] = postgres;
        settings["Runner:TemplatesDir"] = Templates.CreateDirectory();
        settings["Runner:PollSeconds"] = "0.1";
        try
        {
            string id;
            await using (var first = ServerProcess.Start(settings))
            {
                await first.WaitReadyAsync();
                using var client = first.NewClient();
                client.DefaultRequestHeaders.Add("AI-Resource-Group", "default");
                id = await client.StartExecutionAsync(await client.CreateConfigurationAsync(Templates.Sleeper));
                await client.WaitForStatusAsync(id, "RUNNING");
                await first.KillAsync();
            }

            await using var second = ServerProcess.Start(settings);
            await second.WaitReadyAsync();
            using var again = second.NewClient();
            again.DefaultRequestHeaders.Add("AI-Resource-Group", "default");
            var dead = await again.WaitForStatusAsync(id, "DEAD", timeoutSeconds: 30);
            Assert.Equal("The Runledger server running it stopped or restarted; its process is gone", (string?)dead["statusMessage"]);
            Assert.Equal("NodeLost", (string?)dead["statusDetails"]!["reason"]);
            await (await again.DeleteAsync($"/v2/lm/executions/{id}")).ExpectAsync(HttpStatusCode.Accepted);
        }
        finally
        {
            if (postgres is not null)
            {
                await Postgres.DropDatabaseAsync(postgres);
            }
        }
    }
}
