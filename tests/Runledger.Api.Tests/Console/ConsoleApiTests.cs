using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Dapper;
using Runledger.Api.Tests.Support;
using Runledger.Server.WebConsole;
using Runledger.Storage;
using Runledger.Storage.Credentials;
using Runledger.Storage.Metrics;

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
    public async Task Delete_LargeExecutionWithoutTheTypedName_400AndNothingChanges()
    {
        var rg = await ConsoleSeed.ResourceGroupAsync(Server);
        await ConsoleSeed.RunsAsync(Server, rg);
        var id = rg + "-ex-1";
        using var session = await ConsoleClient.SignInAsync(Server.BaseAddress, TestCredentials.AdminToken);
        var target = "{\"kind\":\"execution\",\"id\":\"" + id + "\",\"scope\":\"" + rg + "\"";

        // The preview says it is large and which name confirms it: the dialog only relays this.
        var preview = await (await session.SendAsync(HttpMethod.Post, "/ui/api/deletions/preview", target + "}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(11_504, (long)preview["total"]!);
        Assert.True((bool)preview["confirmationRequired"]!);
        Assert.Equal(id, (string?)preview["confirmationName"]);
        var audit = await Server.CountAsync("SELECT COUNT(*) FROM audit_log");

        var missing = await session.SendAsync(HttpMethod.Post, "/ui/api/deletions", target + "}");
        Http.AssertJson(
            "{\"type\":\"https://tools.ietf.org/html/rfc9110#section-15.5.1\",\"title\":\"Bad Request\",\"status\":400,\"detail\":\"This delete would remove 11,504 rows, so it must be confirmed: send \\\"confirm\\\": \\\"" + id + "\\\" (the execution's name, typed exactly). Nothing was deleted.\",\"code\":\"ConfirmationRequired\",\"requestId\":\"{requestId}\"}",
            await missing.ExpectAsync(HttpStatusCode.BadRequest), missing.RequestId());
        var wrong = await session.SendAsync(HttpMethod.Post, "/ui/api/deletions", target + ",\"confirm\":\"" + id[..^1] + "\"}");
        var wrongBody = await wrong.ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("ConfirmationMismatch", (string?)wrongBody["code"]);
        Assert.Equal($"\"confirm\" does not match: type the execution's name '{id}' exactly to delete these 11,504 rows. Nothing was deleted.", (string?)wrongBody["detail"]);

        // Refused twice, and nothing changed: no job, no audit entry, the execution and its data visible.
        Assert.Equal(0, await Server.CountAsync("SELECT COUNT(*) FROM deletion_jobs WHERE target_id = @id", new { id }));
        Assert.Equal(audit, await Server.CountAsync("SELECT COUNT(*) FROM audit_log"));
        Assert.Equal(1, await Server.CountAsync("SELECT COUNT(*) FROM executions WHERE id = @id AND deleting_job_id IS NULL", new { id }));
        Assert.Equal(1500, await Server.CountAsync("SELECT COUNT(*) FROM execution_logs WHERE execution_id = @id", new { id }));

        // With the name it is scheduled; a small delete (one row) needs no name at all.
        var accepted = await (await session.SendAsync(HttpMethod.Post, "/ui/api/deletions", target + ",\"confirm\":\"" + id + "\"}")).ExpectAsync(HttpStatusCode.Accepted);
        Assert.Equal(1, await Server.CountAsync("SELECT COUNT(*) FROM deletion_jobs WHERE id = @job AND target_id = @id", new { job = (string)accepted["jobId"]!, id }));
        var small = await (await session.SendAsync(HttpMethod.Post, "/ui/api/deletions/preview", "{\"kind\":\"execution\",\"id\":\"" + rg + "-ex-3\",\"scope\":\"" + rg + "\"}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(1, (long)small["total"]!);
        Assert.False((bool)small["confirmationRequired"]!);
        await (await session.SendAsync(HttpMethod.Post, "/ui/api/deletions", "{\"kind\":\"execution\",\"id\":\"" + rg + "-ex-3\",\"scope\":\"" + rg + "\"}")).ExpectAsync(HttpStatusCode.Accepted);
    }

    [Fact]
    public async Task Delete_LargeDatasetAndProject_ConfirmedByTheirNames()
    {
        var projectName = "console-p-" + Guid.NewGuid().ToString("N")[..8];
        var created = await (await Server.Datadog.PostAsync($"{LlmObs.V1}/projects", Http.JsonApi("projects", new JsonObject { ["name"] = projectName }))).ExpectAsync(HttpStatusCode.Created);
        var project = (string)created["data"]!["id"]!;
        var dataset = await Server.Datadog.NewDatasetAsync(project, "big-set");
        await Server.Datadog.AppendAsync(project, dataset, 1200);
        using var session = await ConsoleClient.SignInAsync(Server.BaseAddress, TestCredentials.AdminToken);

        var preview = await (await session.SendAsync(HttpMethod.Post, "/ui/api/deletions/preview", "{\"kind\":\"llm_dataset\",\"id\":\"" + dataset + "\"}")).ExpectAsync(HttpStatusCode.OK);
        Assert.True((bool)preview["confirmationRequired"]!);
        Assert.Equal("big-set", (string?)preview["confirmationName"]);
        Assert.Equal(1200, (long)preview["rows"]!["llm_records"]!);

        // The id is not the name: a dataset is confirmed by its name, as the dialog asks.
        var byId = await session.SendAsync(HttpMethod.Post, "/ui/api/deletions", "{\"kind\":\"llm_dataset\",\"id\":\"" + dataset + "\",\"confirm\":\"" + dataset + "\"}");
        Assert.Equal("ConfirmationMismatch", (string?)(await byId.ExpectAsync(HttpStatusCode.BadRequest))["code"]);
        var bare = await session.SendAsync(HttpMethod.Post, "/ui/api/deletions", "{\"kind\":\"llm_dataset\",\"id\":\"" + dataset + "\"}");
        Assert.Equal("ConfirmationRequired", (string?)(await bare.ExpectAsync(HttpStatusCode.BadRequest))["code"]);
        Assert.Equal(0, await Server.CountAsync("SELECT COUNT(*) FROM deletion_jobs WHERE target_id = @dataset", new { dataset }));
        Assert.Equal(1, await Server.CountAsync("SELECT COUNT(*) FROM llm_datasets WHERE id = @dataset AND deleting_job_id IS NULL", new { dataset }));

        var job = await (await session.SendAsync(HttpMethod.Post, "/ui/api/deletions", "{\"kind\":\"llm_dataset\",\"id\":\"" + dataset + "\",\"confirm\":\"big-set\"}")).ExpectAsync(HttpStatusCode.Accepted);
        Assert.Equal(1, await Server.CountAsync("SELECT COUNT(*) FROM deletion_jobs WHERE id = @id AND kind = 'llm_dataset' AND parent = @project", new { id = (string)job["jobId"]!, project }));

        // The project still holds the records until the job runs: large, confirmed by the project's name.
        var projectTarget = "{\"kind\":\"llm_project\",\"id\":\"" + project + "\"";
        var projectPreview = await (await session.SendAsync(HttpMethod.Post, "/ui/api/deletions/preview", projectTarget + "}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(projectName, (string?)projectPreview["confirmationName"]);
        Assert.True((bool)projectPreview["confirmationRequired"]!);
        var wrong = await session.SendAsync(HttpMethod.Post, "/ui/api/deletions", projectTarget + ",\"confirm\":\"big-set\"}");
        Assert.Equal("ConfirmationMismatch", (string?)(await wrong.ExpectAsync(HttpStatusCode.BadRequest))["code"]);
        Assert.Equal(1, await Server.CountAsync("SELECT COUNT(*) FROM llm_projects WHERE id = @project AND deleting_job_id IS NULL", new { project }));
        await (await session.SendAsync(HttpMethod.Post, "/ui/api/deletions", projectTarget + ",\"confirm\":\"" + projectName + "\"}")).ExpectAsync(HttpStatusCode.Accepted);
        Assert.Equal(1, await Server.CountAsync("SELECT COUNT(*) FROM llm_projects WHERE id = @project AND deleting_job_id IS NOT NULL", new { project }));

        // A read-only key is not offered the delete, and the endpoint refuses it too.
        var key = await Server.AddCredentialAsync(CredentialKinds.DatadogAppKey, "read");
        using var reader = await ConsoleClient.SignInAsync(Server.BaseAddress, key);
        var refused = await reader.SendAsync(HttpMethod.Post, "/ui/api/deletions", "{\"kind\":\"llm_project\",\"id\":\"x\"}");
        Assert.Equal("This session may not delete kind 'llm_project' here.", (string?)(await refused.ExpectAsync(HttpStatusCode.Forbidden))["detail"]);
    }

    [Fact]
    public async Task Executions_FiltersByScenarioConfigurationAndStatus()
    {
        var rg = await ConsoleSeed.ResourceGroupAsync(Server);
        await ConsoleSeed.RunsAsync(Server, rg);
        await ConsoleSeed.OtherScenarioAsync(Server, rg);
        using var session = await ConsoleClient.SignInAsync(Server.BaseAddress, TestCredentials.AdminToken);
        async Task<List<string>> IdsAsync(string query) =>
            [.. (await (await session.Client.GetAsync($"/ui/api/resource-groups/{rg}/executions?limit=200&{query}")).ExpectAsync(HttpStatusCode.OK))["resources"]!.AsArray().Select(e => (string)e!["id"]!)];

        Assert.Equal([$"{rg}-gen-1", $"{rg}-gen-2", $"{rg}-gen-3"], await IdsAsync("scenarioId=text-generator"));
        Assert.Equal([$"{rg}-gen-2"], await IdsAsync($"configurationId={rg}-cfg-gen&status=DEAD"));
        Assert.Equal(61, (await IdsAsync("scenarioId=image-classifier")).Count);
        Assert.Empty(await IdsAsync("scenarioId=nothing-like-it"));

        var filters = await (await session.Client.GetAsync($"/ui/api/resource-groups/{rg}/execution-filters")).ExpectAsync(HttpStatusCode.OK);
        Http.AssertJson(
            "{\"scenarios\":[\"image-classifier\",\"text-generator\"],\"configurations\":[{\"id\":\"" + rg + "-cfg-gen\",\"name\":\"generate\",\"scenarioId\":\"text-generator\"},{\"id\":\"" + rg + "-cfg\",\"name\":\"train-small\",\"scenarioId\":\"image-classifier\"}]}",
            filters);
    }

    /// <summary>
    /// 100,000 executions in one group: every filter's page (first, deep, last) is one index range
    /// read with no sort on both providers (the plan of the exact SQL the endpoint runs), and paging
    /// by cursor from deep inside the list costs what page 1 does.
    /// </summary>
    [Fact]
    public async Task ExecutionsPage_100kExecutions_IndexRangeNoSortEveryPage()
    {
        var rg = await ConsoleSeed.ResourceGroupAsync(Server);
        var database = Server.Service<IDatabase>();
        await using (var connection = await database.OpenAsync(CancellationToken.None))
        await using (var transaction = await database.BeginWriteAsync(connection, CancellationToken.None))
        {
            await connection.ExecuteAsync(
                "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 100000) " +
                "INSERT INTO executions (id, resource_group, configuration_id, configuration_name, scenario_id, executable_id, target_status, status, created_at, modified_at) " +
                "SELECT @rg || '-' || i, @rg, @rg || '-cfg-' || (i % 20), 'c', 'sc-' || (i % 7), 'e', 'COMPLETED', CASE WHEN i % 10 = 0 THEN 'DEAD' ELSE 'COMPLETED' END, 1700000000000 + (i / 3) * 1000, 1700000000000 FROM s",
                new { rg }, transaction);
            await transaction.CommitAsync();
        }

        // Statistics as autovacuum (PostgreSQL) or a periodic ANALYZE would leave them.
        await using (var connection = await database.OpenAsync(CancellationToken.None))
        {
            await connection.ExecuteAsync("ANALYZE executions");
        }

        var filters = new (string? Status, string? Scenario, string? Configuration, string Index)[]
        {
            (null, null, null, "ix_executions_rg_page"),
            ("DEAD", null, null, "ix_executions_rg_status_page"),
            (null, "sc-3", null, "ix_executions_rg_scenario_page"),
            (null, null, rg + "-cfg-7", "ix_executions_rg_configuration_page"),
        };
        foreach (var (status, scenario, configuration, index) in filters)
        {
            foreach (var after in new (long? At, string? Id)[] { (null, null), (1700000000000 + 16_000_000, rg + "-48000"), (1700000000000 + 1000, rg + "-3") })
            {
                var filter = new ExecutionListFilter(rg, status, scenario, configuration, after.At, after.Id, 51);
                var plan = await PlanAsync(database, ConsoleRunEndpoints.ExecutionListSql(filter), filter);
                Assert.Contains(index, plan, StringComparison.Ordinal);
                Assert.DoesNotContain(Server.Provider == Provider.Sqlite ? "TEMP B-TREE" : "Sort", plan, StringComparison.Ordinal);
                Assert.DoesNotContain(Server.Provider == Provider.Sqlite ? "SCAN executions" : "Seq Scan", plan, StringComparison.Ordinal);
            }
        }

        // Through the API: 20 pages from deep inside the list, each newest first and continuing the last.
        using var session = await ConsoleClient.SignInAsync(Server.BaseAddress, TestCredentials.AdminToken);
        var first = await (await session.Client.GetAsync($"/ui/api/resource-groups/{rg}/executions?limit=200&scenarioId=sc-3")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(200, first["resources"]!.AsArray().Count);
        var cursor = (string?)first["nextCursor"];
        var previous = (string)first["resources"]![199]!["createdAt"]!;
        var watch = Stopwatch.StartNew();
        for (var page = 0; page < 20; page++)
        {
            var body = await (await session.Client.GetAsync($"/ui/api/resource-groups/{rg}/executions?limit=200&scenarioId=sc-3&cursor={cursor}")).ExpectAsync(HttpStatusCode.OK);
            var items = body["resources"]!.AsArray();
            Assert.Equal(200, items.Count);
            Assert.All(items, e => Assert.Equal("sc-3", (string?)e!["scenarioId"]));
            Assert.True(string.CompareOrdinal((string)items[0]!["createdAt"]!, previous) <= 0);
            previous = (string)items[^1]!["createdAt"]!;
            cursor = (string?)body["nextCursor"];
        }

        // Generous for a loaded 2-core machine; a full scan and sort of 100,000 rows per page would not fit.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"20 pages took {watch.Elapsed}.");
    }

    /// <summary>The query plan as text: EXPLAIN QUERY PLAN's details on SQLite, EXPLAIN's lines on PostgreSQL.</summary>
    private async Task<string> PlanAsync(IDatabase database, string sql, ExecutionListFilter filter)
    {
        await using var connection = await database.OpenAsync(CancellationToken.None);
        if (Server.Provider == Provider.Sqlite)
        {
            var plan = await connection.QueryAsync("EXPLAIN QUERY PLAN " + sql, filter);
            return string.Join('\n', plan.Select(r => (string)((IDictionary<string, object?>)r)["detail"]!));
        }

        return string.Join('\n', await connection.QueryAsync<string>("EXPLAIN " + sql, filter));
    }

    [Fact]
    public async Task Metrics_ZoomWindow_DownsampledWithinTheWindowOnly()
    {
        var rg = await ConsoleSeed.ResourceGroupAsync(Server);
        await ConsoleSeed.RunsAsync(Server, rg);
        using var session = await ConsoleClient.SignInAsync(Server.BaseAddress, TestCredentials.AdminToken);
        var body = await (await session.Client.GetAsync($"/ui/api/resource-groups/{rg}/metrics?executionIds={rg}-ex-1,{rg}-ex-2&name=loss&from=1000&to=1999&maxPoints=2000")).ExpectAsync(HttpStatusCode.OK);
        var series = body["series"]!.AsArray();
        Assert.Equal([$"{rg}-ex-1 loss", $"{rg}-ex-2 loss"], series.Select(s => $"{s!["executionId"]} {s["name"]}"));

        // All 1,000 points of the window (and the one either side), where the whole series came as 2,000 of 5,000.
        Assert.Equal(1000, (int)series[0]!["inWindow"]!);
        Assert.Equal(5000, (int)series[0]!["total"]!);
        var points = series[0]!["points"]!.AsArray().Select(p => (double)p![0]!).ToList();
        Assert.Equal(1002, points.Count);
        Assert.Equal(999, points[0]);
        Assert.Equal(2000, points[^1]);

        // ex-2 has 800 steps: nothing in the window but its last point, kept as the line's left end.
        Assert.Equal(0, (int)series[1]!["inWindow"]!);
        Assert.Equal([799.0], series[1]!["points"]!.AsArray().Select(p => (double)p![0]!));

        var narrow = await (await session.Client.GetAsync($"/ui/api/resource-groups/{rg}/metrics?executionIds={rg}-ex-1&name=loss&from=1000&to=1999&maxPoints=100")).ExpectAsync(HttpStatusCode.OK);
        var xs = narrow["series"]![0]!["points"]!.AsArray().Select(p => (double)p![0]!).ToList();
        Assert.Equal(100, xs.Count);
        Assert.All(xs, x => Assert.InRange(x, 999, 2000));

        var bad = await session.Client.GetAsync($"/ui/api/resource-groups/{rg}/metrics?executionIds={rg}-ex-1&from=5&to=5");
        Assert.Equal("from must be less than to (a window on the chart's x axis: steps, or Unix milliseconds for time).", (string?)(await bad.ExpectAsync(HttpStatusCode.BadRequest))["detail"]);
    }

    /// <summary>
    /// A zoom of a time-axis series is read as a timestamp range in SQL: points exactly on either end
    /// are inside, the one point beyond each end (the last of a tie before, the first of a tie after)
    /// is kept, ties inside stay in (ts, step) order, and the axis and total are the whole series'
    /// (the window's own points all have steps; others do not).
    /// </summary>
    [Fact]
    public async Task Metrics_ZoomOnTimeAxis_WindowEdgesAndTiesAsTheWholeSeriesGives()
    {
        var rg = await ConsoleSeed.ResourceGroupAsync(Server);
        await ConsoleSeed.RunsAsync(Server, rg, metrics: false);
        var execution = rg + "-ex-3";
        MetricPointInput Lr(long ts, long step, double value) => new("lr", value, ts, step, null);
        Assert.True(await Server.Service<IMetricStore>().AppendAsync(rg, execution,
        [
            Lr(100, -1, 1.0), Lr(100, -1, 1.5), new("other", 9, 150, -1, null), Lr(200, 1, 2.0), Lr(300, 3, 3.5), Lr(300, 2, 3.0),
            Lr(400, 4, 4.0), Lr(500, -1, 5.0), Lr(500, -1, 5.5), new("other", 9, 600, -1, null),
        ], [], 1, CancellationToken.None));
        using var session = await ConsoleClient.SignInAsync(Server.BaseAddress, TestCredentials.AdminToken);
        async Task<string> ZoomAsync(string window)
        {
            var body = await (await session.Client.GetAsync($"/ui/api/resource-groups/{rg}/metrics?executionIds={execution}&name=lr&maxPoints=10&{window}")).ExpectAsync(HttpStatusCode.OK);
            var series = Assert.Single(body["series"]!.AsArray())!;
            Assert.Equal("time", (string?)series["axis"]);
            Assert.Equal(8, (int)series["total"]!);
            return $"{series["inWindow"]} {series["points"]!.ToJsonString()}";
        }

        Assert.Equal("4 [[100,1.5],[200,2],[300,3],[300,3.5],[400,4],[500,5]]", await ZoomAsync("from=200&to=400"));
        Assert.Equal("2 [[200,2],[300,3],[300,3.5],[400,4]]", await ZoomAsync("from=200.5&to=399.5"));
        Assert.Equal("2 [[100,1],[100,1.5],[200,2]]", await ZoomAsync("from=50&to=100"));
        Assert.Equal("0 [[500,5.5]]", await ZoomAsync("from=501&to=900"));
        Assert.Equal("0 [[100,1]]", await ZoomAsync("from=-5&to=99.9"));
        Assert.Equal("3 [[300,3.5],[400,4],[500,5],[500,5.5]]", await ZoomAsync("from=400"));
        Assert.Equal("8 [[100,1],[100,1.5],[200,2],[300,3],[300,3.5],[400,4],[500,5],[500,5.5]]", await ZoomAsync("from=-1e300&to=1e300"));
    }

    /// <summary>
    /// Spans of an experiment a page at a time (keyset on push order: spans with equal start times
    /// keep the order they were pushed in) and the score summary aggregated in SQL over every metric.
    /// </summary>
    [Fact]
    public async Task ExperimentSpans_KeysetPagesEverySpanOnce_SummaryOverAllEvents()
    {
        var project = await Server.Datadog.NewProjectAsync();
        var experiment = await ExperimentTests.ExperimentAsync(Server.Datadog, project, "paged");
        var other = await ExperimentTests.ExperimentAsync(Server.Datadog, project, "other");
        // 7 spans in two pushes, start times tied in pairs; s3 and s6 failed.
        JsonObject Span(int i) => new()
        {
            ["trace_id"] = $"t{i}",
            ["span_id"] = $"s{i}",
            ["project_id"] = project,
            ["dataset_id"] = "d",
            ["name"] = "call",
            ["start_ns"] = 1705314600000000000L + (i / 2),
            ["duration"] = 1000000L,
            ["status"] = i is 3 or 6 ? "error" : "ok",
        };
        JsonObject Metric(int span, string type, string label, JsonNode value, string? assessment = null) => new JsonObject
        {
            ["span_id"] = span < 0 ? "" : $"s{span}",
            ["metric_type"] = type,
            ["label"] = label,
            ["timestamp_ms"] = 1705314600000L,
            [type switch { "score" => "score_value", "categorical" => "categorical_value", "boolean" => "boolean_value", _ => "json_value" }] = value,
        }.Also(m => { if (assessment is not null) { m["assessment"] = assessment; } });
        async Task PushAsync(IEnumerable<JsonObject> spans, IEnumerable<JsonObject> metrics) =>
            await (await Server.Datadog.PostAsync($"{LlmObs.V1}/experiments/{experiment}/events", Http.Json(new JsonObject
            {
                ["data"] = new JsonObject { ["type"] = "events", ["attributes"] = new JsonObject { ["spans"] = new JsonArray([.. spans]), ["metrics"] = new JsonArray([.. metrics]) } },
            }.ToJsonString()))).ExpectAsync(HttpStatusCode.Accepted);
        await PushAsync(Enumerable.Range(0, 4).Select(Span),
        [
            Metric(0, "score", "accuracy", 0.5, "pass"), Metric(1, "score", "accuracy", 1.0, "fail"), Metric(2, "score", "accuracy", 0.25, "pass"),
            Metric(0, "categorical", "tone", "rude"), Metric(1, "categorical", "tone", "polite"), Metric(2, "categorical", "tone", "polite"),
            Metric(3, "boolean", "grounded", false), Metric(-1, "json", "overall", new JsonObject { ["mean"] = 0.7 }),
        ]);
        await PushAsync(Enumerable.Range(4, 3).Select(Span),
        [
            Metric(4, "score", "accuracy", 0.75, "pass"), Metric(6, "score", "accuracy", 1.0, "fail"),
            Metric(4, "categorical", "tone", "neutral"), Metric(5, "categorical", "tone", "rude"),
            Metric(5, "boolean", "grounded", true), Metric(6, "boolean", "grounded", true),
        ]);
        using var session = await ConsoleClient.SignInAsync(Server.BaseAddress, TestCredentials.AdminToken);
        var url = $"/ui/api/llm-obs/v1/experiments/{experiment}";

        // limit=3: 3 + 3 + 1, each span once in push order, each with its own metrics.
        var seen = new List<string>();
        var sizes = new List<int>();
        string? cursor = null;
        JsonNode? firstPage = null;
        do
        {
            var page = await (await session.Client.GetAsync($"{url}/spans?limit=3{(cursor is null ? "" : "&cursor=" + cursor)}")).ExpectAsync(HttpStatusCode.OK);
            firstPage ??= page;
            var spans = page["spans"]!.AsArray();
            sizes.Add(spans.Count);
            seen.AddRange(spans.Select(x => (string)x!["span_id"]!));
            cursor = (string?)page["next_cursor"];
        }
        while (cursor is not null);
        Assert.Equal([3, 3, 1], sizes);
        Assert.Equal(["s0", "s1", "s2", "s3", "s4", "s5", "s6"], seen);
        Assert.Equal(
            ["accuracy=0.5 pass", "tone=rude"],
            firstPage!["spans"]![0]!["eval_metrics"]!.AsArray().Select(m => $"{m!["label"]}={m["score_value"] ?? m["categorical_value"]}{(m["assessment"] is { } a ? " " + a : "")}"));
        var last = await (await session.Client.GetAsync($"{url}/spans?limit=6&cursor={(string?)firstPage["next_cursor"]}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(["s3", "s4", "s5", "s6"], last["spans"]!.AsArray().Select(x => (string)x!["span_id"]!));
        Assert.Null((string?)last["next_cursor"]);
        var defaultPage = await (await session.Client.GetAsync($"{url}/spans")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(7, defaultPage["spans"]!.AsArray().Count);

        // The summary by hand: accuracy 0.5, 1, 0.25, 0.75, 1 → mean 0.7; tone rude ×2 (pushed first), polite ×2, neutral ×1.
        var summary = await (await session.Client.GetAsync($"{url}/summary")).ExpectAsync(HttpStatusCode.OK);
        var level = summary["experiment_metrics"]!.AsArray();
        Assert.Equal("overall json {\"mean\":0.7} summary", $"{level.Single()!["label"]} {level[0]!["metric_type"]} {level[0]!["json_value"]!.ToJsonString()} {level[0]!["metric_source"]}");
        summary.AsObject().Remove("experiment_metrics");
        Http.AssertJson(
            """
            {"spans":7,"error_spans":2,"metrics":[
              {"label":"accuracy","metric_type":"score","count":5,"scores":5,"mean":0.7,"min":0.25,"max":1,"values":[],"other_values":0,"assessments":[{"value":"pass","count":3},{"value":"fail","count":2}]},
              {"label":"grounded","metric_type":"boolean","count":3,"scores":0,"mean":null,"min":null,"max":null,"values":[{"value":"true","count":2},{"value":"false","count":1}],"other_values":0,"assessments":[]},
              {"label":"overall","metric_type":"json","count":1,"scores":0,"mean":null,"min":null,"max":null,"values":[{"value":"{\"mean\":0.7}","count":1}],"other_values":0,"assessments":[]},
              {"label":"tone","metric_type":"categorical","count":5,"scores":0,"mean":null,"min":null,"max":null,"values":[{"value":"rude","count":2},{"value":"polite","count":2},{"value":"neutral","count":1}],"other_values":0,"assessments":[]}]}
            """,
            summary);

        // An experiment without events: empty, not an error.
        var empty = await (await session.Client.GetAsync($"/ui/api/llm-obs/v1/experiments/{other}/summary")).ExpectAsync(HttpStatusCode.OK);
        Http.AssertJson("""{"spans":0,"error_spans":0,"metrics":[],"experiment_metrics":[]}""", empty);
        Http.AssertJson("""{"spans":[],"next_cursor":null}""", await (await session.Client.GetAsync($"/ui/api/llm-obs/v1/experiments/{other}/spans")).ExpectAsync(HttpStatusCode.OK));

        // Refused: a limit out of bounds or not a number, a cursor not given out, or one for another experiment.
        foreach (var (query, detail) in new[]
        {
            ("limit=0", "limit must be between 1 and 200."),
            ("limit=201", "limit must be between 1 and 200."),
            ("limit=ten", "limit must be between 1 and 200."),
            ("cursor=nonsense", "cursor is not one this server gave out for this experiment; pass nextCursor of the previous page unchanged."),
        })
        {
            var bad = await session.Client.GetAsync($"{url}/spans?{query}");
            Http.AssertJson(
                "{\"type\":\"https://tools.ietf.org/html/rfc9110#section-15.5.1\",\"title\":\"Bad Request\",\"status\":400,\"detail\":\"" + detail + "\",\"code\":\"InvalidParameter\",\"requestId\":\"{requestId}\"}",
                await bad.ExpectAsync(HttpStatusCode.BadRequest), bad.RequestId());
        }

        var foreign = await session.Client.GetAsync($"/ui/api/llm-obs/v1/experiments/{other}/spans?cursor={(string?)firstPage["next_cursor"]}");
        Assert.Equal("InvalidParameter", (string?)(await foreign.ExpectAsync(HttpStatusCode.BadRequest))["code"]);
        var missing = await session.Client.GetAsync("/ui/api/llm-obs/v1/experiments/no-such-experiment/summary");
        Assert.Equal(404, (int)(await missing.ExpectAsync(HttpStatusCode.NotFound))["status"]!);
        await (await session.Client.GetAsync("/ui/api/llm-obs/v1/experiments/no-such-experiment/spans")).ExpectAsync(HttpStatusCode.NotFound);

        // A read-only Datadog key may read both.
        using var reader = await ConsoleClient.SignInAsync(Server.BaseAddress, await Server.AddCredentialAsync(CredentialKinds.DatadogAppKey, "read"));
        await (await reader.Client.GetAsync($"{url}/summary")).ExpectAsync(HttpStatusCode.OK);
        await (await reader.Client.GetAsync($"{url}/spans")).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Execution_Timeline_DerivedFromTheStoredTimes()
    {
        var rg = await ConsoleSeed.ResourceGroupAsync(Server);
        await ConsoleSeed.RunsAsync(Server, rg);
        await ConsoleSeed.OtherScenarioAsync(Server, rg);
        using var session = await ConsoleClient.SignInAsync(Server.BaseAddress, TestCredentials.AdminToken);
        async Task<string> TimelineAsync(string id) =>
            string.Join(" ", (await (await session.Client.GetAsync($"/ui/api/resource-groups/{rg}/executions/{id}")).ExpectAsync(HttpStatusCode.OK))["timeline"]!.AsArray()
                .Select(t => $"{t!["status"]}@{t["source"]}"));

        Assert.Equal("CREATED@created_at RUNNING@start_time COMPLETED@completion_time", await TimelineAsync(rg + "-ex-1"));
        Assert.Equal("CREATED@created_at PENDING@submission_time RUNNING@start_time", await TimelineAsync(rg + "-gen-1"));
        Assert.Equal("CREATED@created_at PENDING@submission_time DEAD@modified_at", await TimelineAsync(rg + "-gen-2"));
        var detail = await (await session.Client.GetAsync($"/ui/api/resource-groups/{rg}/executions/{rg}-gen-2")).ExpectAsync(HttpStatusCode.OK);
        Http.AssertJson(
            """[{"status":"CREATED","at":"2026-01-01T00:00:00+00:00","source":"created_at"},{"status":"PENDING","at":"2026-01-01T00:00:01+00:00","source":"submission_time"},{"status":"DEAD","at":"2026-01-01T00:00:09+00:00","source":"modified_at"}]""",
            detail["timeline"]!);

        // A stop request keeps its own time: the running gen-1 goes STOPPING now, and stays so (no runner holds it).
        var stoppedAt = DateTimeOffset.FromUnixTimeMilliseconds(fixture.Clock.GetUtcNow().ToUnixTimeMilliseconds());
        await (await session.SendAsync(HttpMethod.Post, $"/ui/api/resource-groups/{rg}/executions/{rg}-gen-1/stop", "")).ExpectAsync(HttpStatusCode.NoContent);
        Assert.Equal("CREATED@created_at PENDING@submission_time RUNNING@start_time STOPPING@stop_requested_at", await TimelineAsync(rg + "-gen-1"));
        var stopping = await (await session.Client.GetAsync($"/ui/api/resource-groups/{rg}/executions/{rg}-gen-1")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("STOPPING", (string?)stopping["timeline"]![3]!["status"]);
        Assert.Equal(stoppedAt, DateTimeOffset.Parse((string)stopping["timeline"]![3]!["at"]!, CultureInfo.InvariantCulture));
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
