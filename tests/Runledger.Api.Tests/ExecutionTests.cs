using System.Net;
using Dapper;
using Runledger.Api.Tests.Support;
using Runledger.Storage;

namespace Runledger.Api.Tests;

/// <summary>Executions that really run as processes: the status machine, logs, stop, delete, isolation.</summary>
public abstract class ExecutionTests(ServerFixture fixture)
{
    private TestServer Server => fixture.Server;

    [Fact]
    public async Task Execution_ExitZero_PendingRunningCompletedWithLogs()
    {
        using var client = Server.InGroup();
        var configuration = await client.CreateConfigurationAsync(Templates.Quick, """[{"key":"who","value":"runledger"}]""");
        var response = await client.PostAsync("/v2/lm/executions", Http.Json("{\"configurationId\":\"" + configuration + "\"}"));
        var created = await response.ExpectAsync(HttpStatusCode.Accepted);
        var id = (string)created["id"]!;
        Assert.Equal("Execution scheduled", (string?)created["message"]);
        Assert.Equal("PENDING", (string?)created["status"]);
        Assert.Equal($"/v2/lm/executions/{id}", response.Headers.Location?.OriginalString);

        var done = await client.WaitForStatusAsync(id, "COMPLETED");
        Assert.Equal(configuration, (string?)done["configurationId"]);
        Assert.Equal("cfg-" + Templates.Quick, (string?)done["configurationName"]);
        Assert.Equal(Templates.Quick, (string?)done["executableId"]);
        Assert.Equal(Templates.Scenario, (string?)done["scenarioId"]);
        Assert.Equal("COMPLETED", (string?)done["targetStatus"]);
        Assert.Equal(0, (int)done["statusDetails"]!["exitCode"]!);
        foreach (var field in new[] { "createdAt", "modifiedAt", "submissionTime", "startTime", "completionTime" })
        {
            Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", (string?)done[field]);
        }

        Assert.Equal(["hello runledger", "oops"], (await client.LogMessagesAsync(id)).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Execution_NonZeroExit_DeadWithExitCode()
    {
        using var client = Server.InGroup();
        var id = await client.StartExecutionAsync(await client.CreateConfigurationAsync(Templates.Quick, """[{"key":"code","value":"3"}]"""));
        var dead = await client.WaitForStatusAsync(id, "DEAD");
        Assert.Equal("The process exited with code 3", (string?)dead["statusMessage"]);
        Assert.Equal(3, (int)dead["statusDetails"]!["exitCode"]!);
    }

    [Fact]
    public async Task Execution_BinaryMissing_DeadWithReason()
    {
        using var client = Server.InGroup();
        var id = await client.StartExecutionAsync(await client.CreateConfigurationAsync(Templates.Missing));
        var dead = await client.WaitForStatusAsync(id, "DEAD");
        Assert.StartsWith("Could not start: could not start '/nonexistent/bin/trainer'", (string?)dead["statusMessage"], StringComparison.Ordinal);
        Assert.Equal("StartFailed", (string?)dead["statusDetails"]!["reason"]);
    }

    [Fact]
    public async Task Execution_StoppedMidRun_StoppingThenStoppedAfterSigterm()
    {
        using var client = Server.InGroup();
        var id = await client.StartExecutionAsync(await client.CreateConfigurationAsync(Templates.Sleeper));
        await client.WaitForStatusAsync(id, "RUNNING");

        var response = await client.PatchAsync($"/v2/lm/executions/{id}", Http.Json("""{"targetStatus":"STOPPED"}"""));
        Http.AssertJson($$"""{"id":"{{id}}","message":"Execution modification scheduled"}""", await response.ExpectAsync(HttpStatusCode.Accepted));
        var stopped = await client.WaitForStatusAsync(id, "STOPPED");
        Assert.Equal("STOPPED", (string?)stopped["targetStatus"]);
        Assert.Equal("Stopped on request (exit code 0)", (string?)stopped["statusMessage"]);
        Assert.Contains("got TERM", await client.LogMessagesAsync(id));
    }

    [Fact]
    public async Task Execution_IgnoringSigterm_KilledAfterGrace()
    {
        using var client = Server.InGroup();
        var id = await client.StartExecutionAsync(await client.CreateConfigurationAsync(Templates.Stubborn));
        await client.WaitForStatusAsync(id, "RUNNING");
        await (await client.PatchAsync($"/v2/lm/executions/{id}", Http.Json("""{"targetStatus":"STOPPED"}"""))).ExpectAsync(HttpStatusCode.Accepted);
        await client.WaitForStatusAsync(id, "STOPPING", timeoutSeconds: 5);

        // STOPPING cannot be stopped again nor deleted.
        var again = await (await client.PatchAsync($"/v2/lm/executions/{id}", Http.Json("""{"targetStatus":"STOPPED"}"""))).ExpectAsync(HttpStatusCode.PreconditionFailed);
        Assert.Equal($"Execution '{id}' is STOPPING; only PENDING or RUNNING executions can be stopped.", (string?)again["error"]!["message"]);
        var delete = await (await client.DeleteAsync($"/v2/lm/executions/{id}")).ExpectAsync(HttpStatusCode.PreconditionFailed);
        Assert.Equal($"Execution '{id}' is STOPPING; wait until it is STOPPED, then delete it.", (string?)delete["error"]!["message"]);

        var stopped = await client.WaitForStatusAsync(id, "STOPPED");
        Assert.Equal("Stopped on request (exit code 137)", (string?)stopped["statusMessage"]);
    }

    [Fact]
    public async Task Stop_CompletedExecution_412AndWrongTargetStatus_400()
    {
        using var client = Server.InGroup();
        var id = await client.StartExecutionAsync(await client.CreateConfigurationAsync(Templates.Quick));
        await client.WaitForStatusAsync(id, "COMPLETED");

        var response = await client.PatchAsync($"/v2/lm/executions/{id}", Http.Json("""{"targetStatus":"STOPPED"}"""));
        var body = await response.ExpectAsync(HttpStatusCode.PreconditionFailed);
        Http.AssertJson(
            $$$"""{"error":{"code":"ExecutionNotStoppable","message":"Execution '{{{id}}}' is COMPLETED; only PENDING or RUNNING executions can be stopped.","requestId":"{requestId}","target":"/executions/{{{id}}}"}}""",
            body, response.RequestId());

        var wrong = await (await client.PatchAsync($"/v2/lm/executions/{id}", Http.Json("""{"targetStatus":"RUNNING"}"""))).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal($"targetStatus 'RUNNING' is not supported here; the only value is STOPPED (delete with DELETE /v2/lm/executions/{id}).", (string?)wrong["error"]!["message"]);
        await (await client.PatchAsync("/v2/lm/executions/0000aaaa0000", Http.Json("""{"targetStatus":"STOPPED"}"""))).ExpectAsync(HttpStatusCode.NotFound);
        await client.WaitForStatusAsync(id, "COMPLETED", timeoutSeconds: 1);
    }

    [Fact]
    public async Task Delete_EachDeletableStatus_202ThenGoneWithLogs()
    {
        using var client = Server.InGroup();
        var completed = await client.StartExecutionAsync(await client.CreateConfigurationAsync(Templates.Quick));
        var dead = await client.StartExecutionAsync(await client.CreateConfigurationAsync(Templates.Quick, """[{"key":"code","value":"1"}]"""));
        var stopped = await client.StartExecutionAsync(await client.CreateConfigurationAsync(Templates.Sleeper));
        await client.WaitForStatusAsync(stopped, "RUNNING");
        await (await client.PatchAsync($"/v2/lm/executions/{stopped}", Http.Json("""{"targetStatus":"STOPPED"}"""))).ExpectAsync(HttpStatusCode.Accepted);
        await client.WaitForStatusAsync(completed, "COMPLETED");
        await client.WaitForStatusAsync(dead, "DEAD");
        await client.WaitForStatusAsync(stopped, "STOPPED");
        var unknown = await client.StartExecutionAsync(await client.CreateConfigurationAsync(Templates.Quick));
        await client.WaitForStatusAsync(unknown, "COMPLETED");
        await using (var connection = await Server.Service<IDatabase>().OpenAsync(CancellationToken.None))
        {
            await connection.ExecuteAsync("UPDATE executions SET status = 'UNKNOWN' WHERE id = @unknown", new { unknown });
        }

        var database = Server.Service<IDatabase>();
        foreach (var id in new[] { completed, dead, stopped, unknown })
        {
            var response = await client.DeleteAsync($"/v2/lm/executions/{id}");
            Http.AssertJson($$"""{"id":"{{id}}","message":"Deletion scheduled","targetStatus":"DELETED"}""", await response.ExpectAsync(HttpStatusCode.Accepted));
            var job = await Server.WaitForJobAsync(response.JobId());
            Assert.Equal("execution", (string?)job["kind"]);
            await (await client.GetAsync($"/v2/lm/executions/{id}")).ExpectAsync(HttpStatusCode.NotFound);
            await (await client.GetAsync($"/v2/lm/executions/{id}/logs")).ExpectAsync(HttpStatusCode.NotFound);
            await (await client.DeleteAsync($"/v2/lm/executions/{id}")).ExpectAsync(HttpStatusCode.NotFound);
            await using var connection = await database.OpenAsync(CancellationToken.None);
            Assert.Equal(0, await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM execution_logs WHERE execution_id = @id", new { id }));
        }
    }

    [Fact]
    public async Task Delete_RunningExecution_412SaysStopFirst()
    {
        using var client = Server.InGroup();
        var id = await client.StartExecutionAsync(await client.CreateConfigurationAsync(Templates.Sleeper));
        await client.WaitForStatusAsync(id, "RUNNING");
        var response = await client.DeleteAsync($"/v2/lm/executions/{id}");
        var body = await response.ExpectAsync(HttpStatusCode.PreconditionFailed);
        Http.AssertJson(
            $$$"""{"error":{"code":"ExecutionNotDeletable","message":"Execution '{{{id}}}' is RUNNING; stop it first (PATCH /v2/lm/executions/{{{id}}} with {\"targetStatus\":\"STOPPED\"}) and delete it once it is STOPPED.","requestId":"{requestId}","target":"/executions/{{{id}}}"}}""",
            body, response.RequestId());
        await client.WaitForStatusAsync(id, "RUNNING", timeoutSeconds: 1);
        await (await client.PatchAsync($"/v2/lm/executions/{id}", Http.Json("""{"targetStatus":"STOPPED"}"""))).ExpectAsync(HttpStatusCode.Accepted);
        await client.WaitForStatusAsync(id, "STOPPED");
    }

    [Fact]
    public async Task ListAndCount_FiltersByStatusExecutableConfigurationAndPaging()
    {
        var group = "ex-" + Guid.NewGuid().ToString("N")[..10];
        await (await Server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json("{\"resourceGroupId\":\"" + group + "\"}"))).ExpectAsync(HttpStatusCode.Accepted);
        using var client = Server.InGroup(group);
        var ok = await client.CreateConfigurationAsync(Templates.Quick);
        var failing = await client.CreateConfigurationAsync(Templates.Quick, """[{"key":"code","value":"2"}]""");
        var sleeping = await client.CreateConfigurationAsync(Templates.Sleeper);
        var a = await client.StartExecutionAsync(ok);
        var b = await client.StartExecutionAsync(failing);
        var c = await client.StartExecutionAsync(sleeping);
        await client.WaitForStatusAsync(a, "COMPLETED");
        await client.WaitForStatusAsync(b, "DEAD");
        await client.WaitForStatusAsync(c, "RUNNING");

        async Task<List<string>> Ids(string query)
        {
            var body = await (await client.GetAsync("/v2/lm/executions" + query)).ExpectAsync(HttpStatusCode.OK);
            return body["resources"]!.AsArray().Select(e => (string)e!["id"]!).ToList();
        }

        async Task<string> Count(string query) => await (await client.GetAsync("/v2/lm/executions/$count" + query)).Content.ReadAsStringAsync();

        // Newest first; executions started in the same millisecond are ordered by id, descending, as
        // the stores order them (the three start within a few ms of each other).
        var listed = (await (await client.GetAsync("/v2/lm/executions")).ExpectAsync(HttpStatusCode.OK))["resources"]!.AsArray();
        var createdAt = listed.ToDictionary(e => (string)e!["id"]!, e => DateTimeOffset.Parse((string)e!["createdAt"]!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(createdAt[a] <= createdAt[b] && createdAt[b] <= createdAt[c], $"created out of order: {listed.ToJsonString()}");
        var newestFirst = new[] { a, b, c }.OrderByDescending(id => createdAt[id]).ThenByDescending(id => id, StringComparer.Ordinal).ToList();
        List<string> Newest(params string[] ids) => newestFirst.Where(ids.Contains).ToList();

        Assert.Equal(newestFirst, await Ids(""));
        Assert.Equal([b], await Ids("?status=DEAD"));
        Assert.Equal(Newest(a, b), await Ids($"?executableIds={Templates.Quick}"));
        Assert.Equal([a], await Ids($"?configurationId={ok}"));
        Assert.Equal(newestFirst, await Ids($"?scenarioId={Templates.Scenario}"));
        Assert.Equal([newestFirst[1]], await Ids("?$top=1&$skip=1"));
        Assert.Empty(await Ids("?executionScheduleId=schedule-1"));
        Assert.Equal("3", await Count(""));
        Assert.Equal("1", await Count("?status=RUNNING"));
        Assert.Equal("2", await Count($"?executableIds={Templates.Quick},{Templates.Missing}"));

        var selected = await (await client.GetAsync("/v2/lm/executions?$select=status&status=RUNNING")).ExpectAsync(HttpStatusCode.OK);
        Http.AssertJson($$"""{"count":1,"resources":[{"id":"{{c}}","status":"RUNNING"}]}""", selected);
        var one = await (await client.GetAsync($"/v2/lm/executions/{a}?$select=status")).ExpectAsync(HttpStatusCode.OK);
        Http.AssertJson($$"""{"id":"{{a}}","status":"COMPLETED"}""", one);

        var badStatus = await (await client.GetAsync("/v2/lm/executions?status=FINISHED")).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("status 'FINISHED' is unknown; use one of PENDING, RUNNING, COMPLETED, DEAD, STOPPING, STOPPED, UNKNOWN.", (string?)badStatus["error"]!["message"]);
        await (await client.GetAsync("/v2/lm/executions?$select=name")).ExpectAsync(HttpStatusCode.BadRequest);
        await (await client.GetAsync("/v2/lm/executions?configurationId=x")).ExpectAsync(HttpStatusCode.BadRequest);

        await (await client.PatchAsync($"/v2/lm/executions/{c}", Http.Json("""{"targetStatus":"STOPPED"}"""))).ExpectAsync(HttpStatusCode.Accepted);
        await client.WaitForStatusAsync(c, "STOPPED");
    }

    [Fact]
    public async Task Logs_TopOrderAndTimeWindow()
    {
        using var client = Server.InGroup();
        var id = await client.StartExecutionAsync(await client.CreateConfigurationAsync(Templates.Environment));
        await client.WaitForStatusAsync(id, "COMPLETED");
        var all = await client.LogMessagesAsync(id);
        Assert.Equal(5, all.Count);

        var lastTwo = await (await client.GetAsync($"/v2/lm/executions/{id}/logs?$top=2&$order=desc")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([all[4], all[3]], lastTwo["data"]!["result"]!.AsArray().Select(l => (string)l!["msg"]!));
        var future = await (await client.GetAsync($"/v2/lm/executions/{id}/logs?start=2999-01-01T00:00:00Z")).ExpectAsync(HttpStatusCode.OK);
        Assert.Empty(future["data"]!["result"]!.AsArray());
        var past = await (await client.GetAsync($"/v2/lm/executions/{id}/logs?end=2000-01-01T00:00:00Z")).ExpectAsync(HttpStatusCode.OK);
        Assert.Empty(past["data"]!["result"]!.AsArray());
        await (await client.GetAsync($"/v2/lm/executions/{id}/logs?$top=0")).ExpectAsync(HttpStatusCode.BadRequest);
        await (await client.GetAsync($"/v2/lm/executions/{id}/logs?$order=up")).ExpectAsync(HttpStatusCode.BadRequest);
        await (await client.GetAsync($"/v2/lm/executions/{id}/logs?start=yesterday")).ExpectAsync(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Process_GetsItsIdGroupUrlAndScopedTokenButNoServerSecrets()
    {
        using var client = Server.InGroup();
        var id = await client.StartExecutionAsync(await client.CreateConfigurationAsync(Templates.Environment));
        await client.WaitForStatusAsync(id, "COMPLETED");
        var lines = (await client.LogMessagesAsync(id)).Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        Assert.Equal(id, lines["id"]);
        Assert.Equal("default", lines["rg"]);
        Assert.Equal(Server.BaseAddress.ToString().TrimEnd('/'), lines["url"]);
        Assert.Equal("none", lines["admin"]);

        // The process's token is a real credential, but only for its own metrics.
        using var processClient = Server.NewClient(lines["token"]);
        processClient.DefaultRequestHeaders.Add("AI-Resource-Group", "default");
        var response = await processClient.GetAsync("/v2/lm/executions");
        var body = await response.ExpectAsync(HttpStatusCode.Forbidden);
        Assert.Equal($"This token belongs to execution '{id}' and may only log that execution's metrics (PATCH /v2/lm/metrics).", (string?)body["error"]!["message"]);
        await (await processClient.DeleteAsync($"/v2/lm/executions/{id}")).ExpectAsync(HttpStatusCode.Forbidden);
        await (await processClient.GetAsync("/v2/admin/resourceGroups")).ExpectAsync(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task Isolation_ExecutionOfGroupA_IsNotFoundFromGroupB()
    {
        var groupB = "iso-" + Guid.NewGuid().ToString("N")[..10];
        await (await Server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json("{\"resourceGroupId\":\"" + groupB + "\"}"))).ExpectAsync(HttpStatusCode.Accepted);
        using var a = Server.InGroup();
        using var b = Server.InGroup(groupB);
        var configuration = await a.CreateConfigurationAsync(Templates.Sleeper);
        var id = await a.StartExecutionAsync(configuration);
        await a.WaitForStatusAsync(id, "RUNNING");

        await (await b.GetAsync($"/v2/lm/executions/{id}")).ExpectAsync(HttpStatusCode.NotFound);
        await (await b.GetAsync($"/v2/lm/executions/{id}/logs")).ExpectAsync(HttpStatusCode.NotFound);
        await (await b.GetAsync($"/v2/lm/configurations/{configuration}")).ExpectAsync(HttpStatusCode.NotFound);
        await (await b.PatchAsync($"/v2/lm/executions/{id}", Http.Json("""{"targetStatus":"STOPPED"}"""))).ExpectAsync(HttpStatusCode.NotFound);
        await (await b.DeleteAsync($"/v2/lm/executions/{id}")).ExpectAsync(HttpStatusCode.NotFound);
        var bulk = await (await b.PatchAsync("/v2/lm/executions", Http.Json($$"""{"executions":[{"id":"{{id}}","targetStatus":"STOPPED"}]}""", "application/merge-patch+json"))).ExpectAsync(HttpStatusCode.Accepted);
        Assert.Equal("ExecutionNotFound", (string?)bulk["executions"]![0]!["error"]!["code"]);
        await (await b.PostAsync("/v2/lm/executions", Http.Json("{\"configurationId\":\"" + configuration + "\"}"))).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("0", await (await b.GetAsync("/v2/lm/executions/$count")).Content.ReadAsStringAsync());

        // Untouched in group A.
        await a.WaitForStatusAsync(id, "RUNNING", timeoutSeconds: 1);
        await (await a.PatchAsync($"/v2/lm/executions/{id}", Http.Json("""{"targetStatus":"STOPPED"}"""))).ExpectAsync(HttpStatusCode.Accepted);
        await a.WaitForStatusAsync(id, "STOPPED");
    }

    [Fact]
    public async Task Meta_ReportsCapabilitiesAndLimits()
    {
        var meta = await (await Server.Admin.GetAsync("/v2/lm/meta")).ExpectAsync(HttpStatusCode.OK);
        var api = meta["aiApi"]!;
        Assert.Equal("2.42.0", (string?)api["version"]);
        Assert.True((bool)api["capabilities"]!["bulkUpdates"]!["executions"]!);
        Assert.True((bool)api["capabilities"]!["logs"]!["executions"]!);
        Assert.True((bool)api["capabilities"]!["userExecutions"]!);
        Assert.False((bool)api["capabilities"]!["userDeployments"]!);
        Assert.Equal(-1, (int)api["limits"]!["executions"]!["maxRunningCount"]!);
    }
}

public sealed class ExecutionTestsOnSqlite(SqliteRunnerServer fixture) : ExecutionTests(fixture), IClassFixture<SqliteRunnerServer>;

public sealed class ExecutionTestsOnPostgres(PostgresRunnerServer fixture) : ExecutionTests(fixture), IClassFixture<PostgresRunnerServer>;
