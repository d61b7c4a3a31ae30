using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Dapper;
using Microsoft.Playwright;
using Runledger.Api.Tests.Support;
using Runledger.Storage;
using Runledger.Storage.Credentials;
using static Microsoft.Playwright.Assertions;

namespace Runledger.Api.Tests.WebConsole;

/// <summary>The web console in a real browser against a started server with seeded data, on both providers.</summary>
public abstract class ConsoleBrowserTests(ConsoleBrowser fixture)
{
    private TestServer Server => fixture.Server;

    [Fact]
    public async Task SignIn_WrongThenAdminToken_OffersEverythingAndSignOutEndsTheSession()
    {
        var (context, page, errors) = await fixture.NewPageAsync();
        await using var _ = context;
        await page.GotoAsync("/ui/");
        await Expect(page.Locator("#credential")).ToBeFocusedAsync();
        await fixture.ScreenshotAsync(page, "signin");

        await page.Locator("#credential").FillAsync("rl_not-a-token");
        await page.Keyboard.PressAsync("Enter");
        await Expect(page.GetByRole(AriaRole.Alert)).ToHaveTextAsync("This credential is not known or has been revoked; check that you pasted the whole token or key.");

        await page.Locator("#credential").FillAsync(TestCredentials.AdminToken);
        await page.Keyboard.PressAsync("Enter");
        await Expect(page.Locator("#nav a")).ToHaveTextAsync(["Runs", "LLM Obs", "Deletions", "Audit", "Holds"]);
        var cookie = (await context.CookiesAsync()).Single(c => c.Name == "rl_console");
        Assert.True(cookie.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, cookie.SameSite);

        // A state-changing call without the antiforgery header is refused, even with the session cookie.
        var forged = await context.APIRequest.PostAsync("/ui/api/deletions/preview", new() { DataObject = new { kind = "resource_group", id = "default" } });
        Assert.Equal(403, forged.Status);
        Assert.Equal("CsrfTokenInvalid", (string?)JsonNode.Parse(await forged.TextAsync())!["code"]);

        await page.Locator("#signout").ClickAsync();
        await Expect(page.Locator("#credential")).ToBeVisibleAsync();
        var after = await context.APIRequest.GetAsync("/ui/api/resource-groups/");
        Assert.Equal(401, after.Status);
        Assert.Empty(errors);
    }

    [Fact]
    public async Task SignIn_ReadOnlyDatadogKey_OffersOnlyLlmObsReading()
    {
        var project = await NewProjectWithExperimentAsync();
        var key = await Server.AddCredentialAsync(CredentialKinds.DatadogAppKey, "read");
        var (context, page, errors) = await fixture.NewPageAsync();
        await using var _ = context;
        await ConsoleBrowser.SignInAsync(page, key);
        await Expect(page.Locator("#nav a")).ToHaveTextAsync(["LLM Obs"]);
        await page.GotoAsync($"/ui/#/llm/{project.Id}");
        await Expect(page.Locator($"tr[data-experiment='{project.Experiment}']")).ToBeVisibleAsync();
        await Expect(page.Locator("button[data-delete]")).ToHaveCountAsync(0);

        // The runs API is not offered, and not open either.
        var runs = await context.APIRequest.GetAsync("/ui/api/resource-groups/");
        Assert.Equal(403, runs.Status);
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Runs_ExecutionPage_OneChartPerMetricOneSeriesPerComparedExecution()
    {
        var rg = await fixture.NewResourceGroupAsync();
        await fixture.SeedRunsAsync(rg);
        var (context, page, errors) = await fixture.NewPageAsync();
        await using var _ = context;
        await ConsoleBrowser.SignInAsync(page, TestCredentials.AdminToken);

        await page.GetByRole(AriaRole.Link, new() { Name = rg }).ClickAsync();
        await Expect(page.Locator("tr[data-execution]")).ToHaveCountAsync(50);
        await fixture.ScreenshotAsync(page, "executions");
        await page.Locator("#next-page").ClickAsync();
        await Expect(page.Locator("tr[data-execution]")).ToHaveCountAsync(11);
        await page.GetByRole(AriaRole.Link, new() { Name = "← Previous" }).ClickAsync();
        await Expect(page.Locator("tr[data-execution]")).ToHaveCountAsync(50);
        await page.Locator("#status-filter").SelectOptionAsync("PENDING");
        await Expect(page.Locator("tr[data-execution]")).ToHaveCountAsync(1);
        await Expect(page.Locator($"tr[data-execution='{rg}-pending']")).ToBeVisibleAsync();

        await page.GotoAsync($"/ui/#/runs/{rg}/{rg}-ex-1");
        await Expect(page.Locator("figure.chart")).ToHaveCountAsync(2);
        await Expect(page.Locator("figure.chart[data-metric='loss'] path.series")).ToHaveCountAsync(1);
        await Expect(page.Locator("figure.chart[data-metric='loss'] figcaption")).ToHaveTextAsync($"{rg}-ex-1 (5,000 points, 2,000 drawn)");
        await Expect(page.Locator("#h-params + dl")).ToContainTextAsync("learning_rate0.01");
        await Expect(page.Locator("#h-tags + dl")).ToContainTextAsync("datasetcifar-10");
        await Expect(page.Locator("#log-tail")).ToContainTextAsync("epoch 1500 loss ok");

        await page.Locator($"input[data-compare='{rg}-ex-2']").CheckAsync();
        await Expect(page.Locator("figure.chart[data-metric='loss'] path.series")).ToHaveCountAsync(2);
        await Expect(page.Locator("figure.chart[data-metric='accuracy'] path.series")).ToHaveCountAsync(2);

        // Hover values for every series at the cursor.
        var chart = page.Locator("figure.chart[data-metric='loss'] svg");
        var box = (await chart.BoundingBoxAsync())!;
        await chart.HoverAsync(new() { Position = new Position { X = box.Width * 0.3f, Y = box.Height / 2 } });
        await Expect(page.Locator("figure.chart[data-metric='loss'] .tooltip")).ToContainTextAsync($"{rg}-ex-2:");
        await page.Mouse.MoveAsync(0, 0);
        await fixture.ScreenshotAsync(page, "execution");

        // The server down-sampled: 5,000 points arrive as at most 2,000.
        var metrics = JsonNode.Parse(await (await context.APIRequest.GetAsync($"/ui/api/resource-groups/{rg}/metrics?executionIds={rg}-ex-1&maxPoints=2000")).TextAsync())!;
        Assert.All(metrics["series"]!.AsArray(), s => Assert.Equal(2000, s!["points"]!.AsArray().Count));

        // Readable on a narrow window too.
        await page.SetViewportSizeAsync(420, 900);
        await Expect(page.Locator("figure.chart")).ToHaveCountAsync(2);
        await fixture.ScreenshotAsync(page, "execution-narrow");
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Stop_PendingExecution_ShowsStoppedAndStoresIt()
    {
        var rg = await fixture.NewResourceGroupAsync();
        await fixture.SeedRunsAsync(rg);
        var (context, page, errors) = await fixture.NewPageAsync();
        await using var _ = context;
        await ConsoleBrowser.SignInAsync(page, TestCredentials.AdminToken);
        await page.GotoAsync($"/ui/#/runs/{rg}/{rg}-pending");
        await Expect(page.Locator("#exec-status")).ToHaveTextAsync("PENDING");
        await Expect(page.Locator("#delete")).ToHaveCountAsync(0);
        await page.Locator("#stop").ClickAsync();
        await Expect(page.Locator("#exec-status")).ToHaveTextAsync("STOPPED");
        await Expect(page.Locator("#stop")).ToHaveCountAsync(0);
        Assert.Equal(1, await Server.CountAsync("SELECT COUNT(*) FROM executions WHERE id = @id AND status = 'STOPPED'", new { id = rg + "-pending" }));
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Delete_ExecutionWithPreview_TypedConfirmationAndJobRemovesWhatThePreviewCounted()
    {
        var rg = await fixture.NewResourceGroupAsync();
        await fixture.SeedRunsAsync(rg);
        var id = rg + "-ex-1";
        var (context, page, errors) = await fixture.NewPageAsync();
        await using var _ = context;
        await ConsoleBrowser.SignInAsync(page, TestCredentials.AdminToken);
        await page.GotoAsync($"/ui/#/runs/{rg}/{id}");
        await page.Locator("#delete").ClickAsync();

        await Expect(page.Locator("#preview-grace")).ToHaveTextAsync("none — reclaimed at once");
        await Expect(page.Locator("#preview-restorable")).ToHaveTextAsync("no — this cannot be undone");
        var preview = new Dictionary<string, long>();
        foreach (var row in await page.Locator("#delete-dialog tr[data-kind]").AllAsync())
        {
            preview[(await row.GetAttributeAsync("data-kind"))!] = long.Parse((await row.Locator("td[data-rows]").GetAttributeAsync("data-rows"))!, CultureInfo.InvariantCulture);
        }

        // 1,500 log lines, 10,000 points, 2 attributes, the metric resource and the execution.
        var total = preview.Values.Sum().ToString("N0", CultureInfo.InvariantCulture);
        Assert.Equal("11,504", total);
        await Expect(page.Locator("#preview-total")).ToHaveTextAsync(total);

        // A large delete asks for the name; the button stays disabled until it is typed exactly.
        await Expect(page.Locator("#confirm-delete")).ToBeDisabledAsync();
        await page.Locator("#confirm-name").FillAsync(id[..^1]);
        await Expect(page.Locator("#confirm-delete")).ToBeDisabledAsync();
        await page.Locator("#confirm-name").FillAsync(id);
        await Expect(page.Locator("#confirm-delete")).ToBeEnabledAsync();
        await fixture.ScreenshotAsync(page, "delete-preview", fullPage: false);
        await page.Locator("#confirm-delete").ClickAsync();

        await Expect(page.Locator("#job-finished")).ToBeVisibleAsync(new() { Timeout = 60_000 });
        await Expect(page.Locator("#job-state")).ToHaveTextAsync("done");
        await Expect(page.Locator("#job-removed")).ToHaveTextAsync(total);
        await fixture.ScreenshotAsync(page, "delete-done");
        var jobId = await page.Locator("#job-id").TextContentAsync();
        var job = await (await Server.Admin.GetAsync($"/runledger/v1/deletions/{jobId}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(preview, job["removed"]!.AsObject().ToDictionary(kv => kv.Key, kv => (long)kv.Value!));
        Assert.Equal(0, await Server.CountAsync(
            "SELECT (SELECT COUNT(*) FROM executions WHERE id = @id) + (SELECT COUNT(*) FROM execution_logs WHERE execution_id = @id) + (SELECT COUNT(*) FROM metric_resources WHERE execution_id = @id)",
            new { id }));

        await page.Locator("#close-dialog").ClickAsync();
        await Expect(page.Locator($"tr[data-execution='{id}']")).ToHaveCountAsync(0);
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Restore_ResourceGroupWithinGrace_FromTheDeletionsPage()
    {
        var rg = await fixture.NewResourceGroupAsync();
        await fixture.SeedRunsAsync(rg);
        var (context, page, errors) = await fixture.NewPageAsync();
        await using var _ = context;
        await ConsoleBrowser.SignInAsync(page, TestCredentials.AdminToken);
        await page.Locator("tr", new() { Has = page.GetByRole(AriaRole.Link, new() { Name = rg, Exact = true }) }).GetByRole(AriaRole.Button, new() { Name = "Delete…" }).ClickAsync();
        await Expect(page.Locator("#preview-grace")).ToHaveTextAsync("1 d");
        await Expect(page.Locator("#preview-restorable")).ToHaveTextAsync("yes, until the grace period ends");
        await page.Locator("#confirm-name").FillAsync(rg);
        await page.Locator("#confirm-delete").ClickAsync();
        await Expect(page.Locator("#job-waiting")).ToBeVisibleAsync();
        var jobId = await page.Locator("#job-id").TextContentAsync();
        await page.Locator("#close-dialog").ClickAsync();
        await Expect(page.GetByRole(AriaRole.Link, new() { Name = rg, Exact = true })).ToHaveCountAsync(0);

        await page.GetByRole(AriaRole.Link, new() { Name = "Deletions" }).ClickAsync();
        var row = page.Locator($"tr[data-job='{jobId}']");
        await Expect(row).ToContainTextAsync("queued");
        await fixture.ScreenshotAsync(page, "deletions");
        await row.GetByRole(AriaRole.Button, new() { Name = "Restore" }).ClickAsync();
        await Expect(row).ToContainTextAsync("restored");
        await (await Server.Admin.GetAsync($"/v2/admin/resourceGroups/{rg}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(61, await Server.CountAsync("SELECT COUNT(*) FROM executions WHERE resource_group = @rg", new { rg }));
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Holds_SetOnTheHoldsPage_PreviewShowsTheHoldAndOffersNoDelete()
    {
        var rg = await fixture.NewResourceGroupAsync();
        var (context, page, errors) = await fixture.NewPageAsync();
        await using var _ = context;
        await ConsoleBrowser.SignInAsync(page, TestCredentials.AdminToken);
        await page.GotoAsync("/ui/#/holds");
        await page.Locator("#hold-kind").SelectOptionAsync("resource_group");
        await page.Locator("#hold-id").FillAsync(rg);
        await page.Locator("#hold-reason").FillAsync("case 42");
        await page.Locator("#hold-set").ClickAsync();
        await Expect(page.Locator($"tr[data-hold='{rg}']")).ToContainTextAsync("case 42");
        await fixture.ScreenshotAsync(page, "holds");

        await page.GotoAsync("/ui/#/runs");
        await page.Locator("tr", new() { Has = page.GetByRole(AriaRole.Link, new() { Name = rg, Exact = true }) }).GetByRole(AriaRole.Button, new() { Name = "Delete…" }).ClickAsync();
        await Expect(page.Locator("#delete-dialog [role=alert]")).ToContainTextAsync($"A legal hold on resource_group '{rg}' refuses this delete: case 42");
        await Expect(page.Locator("#confirm-delete")).ToBeDisabledAsync();
        await page.Keyboard.PressAsync("Escape");

        await page.GotoAsync("/ui/#/holds");
        await page.Locator($"tr[data-hold='{rg}']").GetByRole(AriaRole.Button, new() { Name = "Clear" }).ClickAsync();
        await Expect(page.Locator($"tr[data-hold='{rg}']")).ToHaveCountAsync(0);
        Assert.Equal(0, await Server.CountAsync("SELECT COUNT(*) FROM legal_holds WHERE target_id = @rg", new { rg }));
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Audit_Page_ShowsTheChainVerified()
    {
        var rg = await fixture.NewResourceGroupAsync();
        await (await Server.Admin.DeleteAsync($"/v2/admin/resourceGroups/{rg}")).ExpectAsync(HttpStatusCode.Accepted);
        var verify = await (await Server.Admin.GetAsync("/runledger/v1/audit/verify")).ExpectAsync(HttpStatusCode.OK);
        var (context, page, errors) = await fixture.NewPageAsync();
        await using var _ = context;
        await ConsoleBrowser.SignInAsync(page, TestCredentials.AdminToken);
        await page.GetByRole(AriaRole.Link, new() { Name = "Audit" }).ClickAsync();
        await Expect(page.Locator("#audit-verify-text")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^Verified: all [0-9,]+ entries chain correctly\\.$"));
        Assert.True((bool)verify["ok"]!);
        await Expect(page.Locator("td", new() { HasText = rg }).First).ToBeVisibleAsync();
        await fixture.ScreenshotAsync(page, "audit");
        Assert.Empty(errors);
    }

    [Fact]
    public async Task LlmObs_DatasetVersionsDiffExportAndExperimentSoftDeleteRestore()
    {
        var project = await NewProjectWithExperimentAsync();
        var (context, page, errors) = await fixture.NewPageAsync();
        await using var _ = context;
        await ConsoleBrowser.SignInAsync(page, TestCredentials.AdminToken);
        await page.GetByRole(AriaRole.Link, new() { Name = "LLM Obs" }).ClickAsync();
        await page.GetByRole(AriaRole.Link, new() { Name = project.Name }).ClickAsync();
        await fixture.ScreenshotAsync(page, "llm-project");
        await page.GetByRole(AriaRole.Link, new() { Name = "qa-set" }).ClickAsync();
        await Expect(page.Locator("#record-count")).ToHaveTextAsync("4 records in v3.");
        await fixture.ScreenshotAsync(page, "llm-dataset");

        await page.Locator("#version").SelectOptionAsync("1");
        await Expect(page.Locator("#record-count")).ToHaveTextAsync("3 records in v1.");
        await page.Locator("#version").SelectOptionAsync("3");
        await page.Locator("#diff-version").SelectOptionAsync("1");
        await Expect(page.Locator("#diff-summary")).ToHaveTextAsync("v1 → v3: 2 added, 1 removed, 0 changed.");
        await Expect(page.Locator("tr[data-change='added']")).ToHaveCountAsync(2);
        await fixture.ScreenshotAsync(page, "llm-dataset-diff");
        var href = await page.Locator("#export-csv").GetAttributeAsync("href");
        var csv = await context.APIRequest.GetAsync(href!);
        Assert.Equal(200, csv.Status);
        Assert.Equal(5, (await csv.TextAsync()).Trim().Split('\n').Length);

        await page.GotoAsync($"/ui/#/llm/{project.Id}/experiments/{project.Experiment}");
        await Expect(page.Locator("tr[data-metric='faithfulness']")).ToContainTextAsync("faithfulnessscore30.500");
        await Expect(page.Locator("tr[data-span]")).ToHaveCountAsync(3);
        await fixture.ScreenshotAsync(page, "llm-experiment");

        await page.GotoAsync($"/ui/#/llm/{project.Id}");
        await page.Locator($"button[data-delete='{project.Experiment}']").ClickAsync();
        await Expect(page.Locator("#preview-restorable")).ToHaveTextAsync("yes, until the grace period ends");
        await page.Locator("#confirm-delete").ClickAsync();
        await Expect(page.Locator("#job-waiting")).ToBeVisibleAsync();
        await page.Locator("#close-dialog").ClickAsync();
        await Expect(page.Locator($"tr[data-experiment='{project.Experiment}']")).ToHaveCountAsync(0);

        await page.Locator("#show-deleted").CheckAsync();
        var deleted = page.Locator($"tr[data-experiment='{project.Experiment}']");
        await deleted.GetByRole(AriaRole.Button, new() { Name = "Restore" }).ClickAsync();
        await page.Locator("#show-deleted").UncheckAsync();
        await Expect(page.Locator($"tr[data-experiment='{project.Experiment}']")).ToBeVisibleAsync();
        Assert.Equal(1, await Server.CountAsync("SELECT COUNT(*) FROM llm_experiments WHERE id = @id AND deleting_job_id IS NULL", new { id = project.Experiment }));
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Delete_DatasetThenProject_PreviewTypedNameForLargeAndJobProgress()
    {
        var name = "proj-" + Guid.NewGuid().ToString("N")[..8];
        var created = await (await Server.Datadog.PostAsync($"{LlmObs.V1}/projects", Http.JsonApi("projects", new JsonObject { ["name"] = name }))).ExpectAsync(HttpStatusCode.Created);
        var project = (string)created["data"]!["id"]!;
        var big = await Server.Datadog.NewDatasetAsync(project, "big-set");
        await Server.Datadog.AppendAsync(project, big, 1200);
        var small = await Server.Datadog.NewDatasetAsync(project, "small-set");
        await Server.Datadog.AppendAsync(project, small, 2);
        var (context, page, errors) = await fixture.NewPageAsync();
        await using var _ = context;
        await ConsoleBrowser.SignInAsync(page, TestCredentials.AdminToken);
        await page.GotoAsync($"/ui/#/llm/{project}");
        await page.Locator($"button[data-delete-dataset='{big}']").ClickAsync();

        // 1,200 records and more: the dataset's name must be typed (its id does not do).
        await Expect(page.Locator("#delete-dialog tr[data-kind='llm_records'] td[data-rows]")).ToHaveAttributeAsync("data-rows", "1200");
        var preview = await PreviewRowsAsync(page);
        await Expect(page.Locator("#preview-total")).ToHaveTextAsync(preview.Values.Sum().ToString("N0", CultureInfo.InvariantCulture));
        await Expect(page.Locator("label[for='confirm-name']")).ToHaveTextAsync("Type big-set to confirm");
        await Expect(page.Locator("#confirm-delete")).ToBeDisabledAsync();
        await page.Locator("#confirm-name").FillAsync(big);
        await Expect(page.Locator("#confirm-delete")).ToBeDisabledAsync();
        await page.Locator("#confirm-name").FillAsync("big-set");
        await page.Locator("#confirm-delete").ClickAsync();
        await Expect(page.Locator("#job-finished")).ToBeVisibleAsync(new() { Timeout = 60_000 });
        await Expect(page.Locator("#job-state")).ToHaveTextAsync("done");
        await Expect(page.Locator("#job-removed")).ToHaveTextAsync(preview.Values.Sum().ToString("N0", CultureInfo.InvariantCulture));
        var job = await (await Server.Admin.GetAsync($"/runledger/v1/deletions/{await page.Locator("#job-id").TextContentAsync()}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(preview, job["removed"]!.AsObject().ToDictionary(kv => kv.Key, kv => (long)kv.Value!));
        await page.Locator("#close-dialog").ClickAsync();
        await Expect(page.Locator($"tr[data-dataset='{big}']")).ToHaveCountAsync(0);
        await Expect(page.Locator($"tr[data-dataset='{small}']")).ToBeVisibleAsync();

        // A small delete asks for no name: the preview, then the job.
        await page.GetByRole(AriaRole.Link, new() { Name = "Projects" }).ClickAsync();
        await page.Locator($"button[data-delete-project='{project}']").ClickAsync();
        await Expect(page.Locator("#delete-dialog tr[data-kind='llm_datasets'] td[data-rows]")).ToHaveAttributeAsync("data-rows", "1");
        await Expect(page.Locator("#confirm-name")).ToHaveCountAsync(0);
        await page.Locator("#confirm-delete").ClickAsync();
        await Expect(page.Locator("#job-state")).ToHaveTextAsync("done", new() { Timeout = 60_000 });
        await page.Locator("#close-dialog").ClickAsync();
        await Expect(page.Locator($"tr[data-project='{project}']")).ToHaveCountAsync(0);
        Assert.Equal(0, await Server.CountAsync(
            "SELECT (SELECT COUNT(*) FROM llm_projects WHERE id = @project) + (SELECT COUNT(*) FROM llm_datasets WHERE project_id = @project) + (SELECT COUNT(*) FROM llm_records WHERE dataset_id IN (@big, @small))",
            new { project, big, small }));
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Experiment_SpansWithInputOutputEvaluationsAndScoreSummary()
    {
        var project = await Server.Datadog.NewProjectAsync();
        var experiment = await ExperimentTests.ExperimentAsync(Server.Datadog, project, "judged");
        await (await Server.Datadog.PostAsync($"{LlmObs.V1}/experiments/{experiment}/events", Http.Json($$$"""
            {"data":{"type":"events","attributes":{
              "spans":[
                {"trace_id":"t1","span_id":"s1","project_id":"{{{project}}}","dataset_id":"d1","name":"llm_call","start_ns":1705314600000000000,"duration":1500000000,"status":"ok","meta":{"input":{"q":"hi"},"output":"hello"}},
                {"trace_id":"t2","span_id":"s2","project_id":"{{{project}}}","dataset_id":"d1","name":"retrieve","start_ns":1705314600100000000,"duration":2000000,"status":"error","meta":{"error":{"message":"boom","type":"TimeoutError"} } }],
              "metrics":[
                {"span_id":"s1","metric_type":"score","timestamp_ms":1705314600000,"label":"faithfulness","score_value":0.9,"assessment":"pass"},
                {"span_id":"s2","metric_type":"score","timestamp_ms":1705314600001,"label":"faithfulness","score_value":0.3,"assessment":"fail"},
                {"span_id":"s2","metric_type":"categorical","timestamp_ms":1705314600002,"label":"tone","categorical_value":"rude"},
                {"span_id":"","metric_type":"json","timestamp_ms":1705314600003,"label":"summary","json_value":{"mean":0.6}}]} } }
            """))).ExpectAsync(HttpStatusCode.Accepted);
        var (context, page, errors) = await fixture.NewPageAsync();
        await using var _ = context;
        await ConsoleBrowser.SignInAsync(page, TestCredentials.AdminToken);
        await page.GotoAsync($"/ui/#/llm/{project}/experiments/{experiment}");
        await Expect(page.Locator("h1")).ToHaveTextAsync("Experiment judged running");
        await Expect(page.Locator("#span-counts")).ToHaveTextAsync("2 (1 with errors)");
        await Expect(page.Locator("tr[data-metric='faithfulness'] td")).ToHaveTextAsync(["faithfulness", "score", "2", "0.600", "0.3", "0.9", "", "pass ×1, fail ×1"]);
        await Expect(page.Locator("tr[data-metric='tone'] td")).ToHaveTextAsync(["tone", "categorical", "1", "–", "–", "–", "rude ×1", ""]);
        await Expect(page.Locator("tr[data-summary-metric='summary']")).ToContainTextAsync("{\"mean\":0.6}");
        await Expect(page.Locator("tr[data-span='s1'] td.span-io")).ToHaveTextAsync(["{\"q\":\"hi\"}", "hello"]);
        await Expect(page.Locator("tr[data-span='s2'] td.span-io").Nth(1)).ToHaveTextAsync("boom");
        await Expect(page.Locator("tr[data-span='s2']")).ToContainTextAsync("faithfulness: 0.3 (fail), tone: rude");
        await Expect(page.Locator("#spans-next")).ToHaveCountAsync(0);

        // 60 more spans (faithfulness 0.5 each): 62 in all, 50 a page; the summary is the server's, over all of them.
        await (await Server.Datadog.PostAsync($"{LlmObs.V1}/experiments/{experiment}/events", EventTests.Push(project, 60))).ExpectAsync(HttpStatusCode.Accepted);
        await page.ReloadAsync();
        await Expect(page.Locator("#span-counts")).ToHaveTextAsync("62 (1 with errors)");
        await Expect(page.Locator("tr[data-metric='faithfulness'] td")).ToHaveTextAsync(["faithfulness", "score", "62", "0.503", "0.3", "0.9", "", "pass ×1, fail ×1"]);
        await Expect(page.Locator("tr[data-span]")).ToHaveCountAsync(50);
        await Expect(page.Locator("#span-range")).ToHaveTextAsync("Spans 1–50 of 62");
        await Expect(page.Locator("#spans-previous")).ToHaveCountAsync(0);

        // By keyboard: Tab to Next, Enter; the focus stays on the pager.
        await TabToAsync(page, "#spans-next");
        await page.Keyboard.PressAsync("Enter");
        await Expect(page.Locator("#span-range")).ToHaveTextAsync("Spans 51–62 of 62");
        await Expect(page.Locator("tr[data-span]")).ToHaveCountAsync(12);
        await Expect(page.Locator("tr[data-span='span-59']")).ToBeVisibleAsync();
        await Expect(page.Locator("#spans-next")).ToHaveCountAsync(0);
        await Expect(page.Locator("#spans-previous")).ToBeFocusedAsync();
        await fixture.ScreenshotAsync(page, "llm-experiment-page-2");
        await page.Keyboard.PressAsync("Enter");
        await Expect(page.Locator("#span-range")).ToHaveTextAsync("Spans 1–50 of 62");
        await Expect(page.Locator("tr[data-span='s1']")).ToBeVisibleAsync();
        await Expect(page.Locator("tr[data-metric='faithfulness'] td").Nth(2)).ToHaveTextAsync("62");
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Executions_FilterByScenarioConfigurationAndStatus_EmptyStateWhenNoneMatch()
    {
        var rg = await fixture.NewResourceGroupAsync();
        await ConsoleSeed.RunsAsync(Server, rg, metrics: false);
        await ConsoleSeed.OtherScenarioAsync(Server, rg);
        var (context, page, errors) = await fixture.NewPageAsync();
        await using var _ = context;
        await ConsoleBrowser.SignInAsync(page, TestCredentials.AdminToken);
        await page.GotoAsync($"/ui/#/runs/{rg}");
        await Expect(page.Locator("tr[data-execution]")).ToHaveCountAsync(50);
        await page.Locator("#scenario-filter").SelectOptionAsync("text-generator");
        await Expect(page.Locator("tr[data-execution]")).ToHaveCountAsync(3);

        // Only the chosen scenario's configurations are offered.
        await Expect(page.Locator("#configuration-filter option")).ToHaveTextAsync(["All configurations", $"generate ({rg}-cfg-gen)"]);
        await page.Locator("#configuration-filter").SelectOptionAsync($"{rg}-cfg-gen");
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("configurationId="));
        await page.Locator("#status-filter").SelectOptionAsync("DEAD");
        await Expect(page.Locator("tr[data-execution]")).ToHaveCountAsync(1);
        await Expect(page.Locator($"tr[data-execution='{rg}-gen-2']")).ToBeVisibleAsync();
        await fixture.ScreenshotAsync(page, "executions-filtered");

        await page.Locator("#status-filter").SelectOptionAsync("STOPPED");
        await Expect(page.Locator(".empty")).ToHaveTextAsync($"No executions in {rg} match: STOPPED, scenario text-generator, configuration generate.");
        await page.Locator("#clear-filters").ClickAsync();
        await Expect(page.Locator("tr[data-execution]")).ToHaveCountAsync(50);

        // An error is said plainly where the page would be.
        await page.GotoAsync($"/ui/#/runs/{rg}/no-such-execution");
        await Expect(page.Locator("main [role=alert]")).ToHaveTextAsync($"Execution 'no-such-execution' does not exist in resource group '{rg}'.");
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Chart_ZoomAsksTheServerForTheWindow_AndRendersTheNarrowerRange()
    {
        var rg = await fixture.NewResourceGroupAsync();
        await fixture.SeedRunsAsync(rg);
        var (context, page, errors) = await fixture.NewPageAsync();
        await using var _ = context;
        var windows = new List<string>();
        page.Request += (_, request) =>
        {
            if (request.Url.Contains("/metrics?", StringComparison.Ordinal) && request.Url.Contains("from=", StringComparison.Ordinal))
            {
                windows.Add(request.Url);
            }
        };
        await ConsoleBrowser.SignInAsync(page, TestCredentials.AdminToken);
        await page.GotoAsync($"/ui/#/runs/{rg}/{rg}-ex-1");

        // The status timeline, from the stored times.
        await Expect(page.Locator("#timeline li")).ToHaveCountAsync(3);
        Assert.Equal(["CREATED", "RUNNING", "COMPLETED"], await page.Locator("#timeline li").EvaluateAllAsync<string[]>("items => items.map(i => i.dataset.status)"));

        var chart = page.Locator("figure.chart[data-metric='loss']");
        var path = chart.Locator("path.series");
        await Expect(path).ToHaveAttributeAsync("data-points", "2000");
        await Expect(chart).ToHaveAttributeAsync("data-x1", "4999");
        await chart.FocusAsync();
        await page.Keyboard.PressAsync("+");
        await page.Keyboard.PressAsync("+");

        // Two zooms around the middle: about 1,250 of the 5,000 steps are in view, all of them drawn —
        // only the server has them (the first answer held 2,000 of the whole run, ~500 of this window).
        await Expect(chart.Locator("figcaption")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex($"^{rg}-ex-1 \\(5,000 points, 1,2[45][0-9] in view, 1,2[45][0-9] drawn\\)$"));
        await Expect(chart).ToHaveAttributeAsync("data-loading", "false");
        var drawn = int.Parse((await path.GetAttributeAsync("data-points"))!, CultureInfo.InvariantCulture);
        Assert.InRange(drawn, 1240, 1260);
        var x0 = double.Parse((await chart.GetAttributeAsync("data-x0"))!, CultureInfo.InvariantCulture);
        var x1 = double.Parse((await chart.GetAttributeAsync("data-x1"))!, CultureInfo.InvariantCulture);
        Assert.InRange(x0, 1800, 1900);
        Assert.InRange(x1, 3100, 3200);
        Assert.Contains(windows, url => url.Contains("name=loss", StringComparison.Ordinal) && url.Contains("from=18", StringComparison.Ordinal));
        await fixture.ScreenshotAsync(page, "execution-zoomed");

        // Escape: the whole run again, as first drawn.
        await page.Keyboard.PressAsync("Escape");
        await Expect(chart.Locator("figcaption")).ToHaveTextAsync($"{rg}-ex-1 (5,000 points, 2,000 drawn)");
        await Expect(chart).ToHaveAttributeAsync("data-zoomed", "false");
        await Expect(path).ToHaveAttributeAsync("data-points", "2000");
        Assert.Empty(errors);
    }

    [Fact]
    public async Task LogTail_RunningExecution_NewLinesAndTheFinishAppearWithoutReload()
    {
        var rg = await fixture.NewResourceGroupAsync();
        await ConsoleSeed.OtherScenarioAsync(Server, rg);
        var id = rg + "-gen-1";
        await ExecuteAsync("INSERT INTO execution_logs (resource_group, execution_id, seq, ts, stream, msg) VALUES (@rg, @id, 1, 1767225662000, 'stdout', 'loading model'), (@rg, @id, 2, 1767225663000, 'stderr', 'warming up')", new { rg, id });
        var (context, page, errors) = await fixture.NewPageAsync();
        await using var _ = context;
        await ConsoleBrowser.SignInAsync(page, TestCredentials.AdminToken);
        await page.GotoAsync($"/ui/#/runs/{rg}/{id}");
        await Expect(page.Locator("#log-tail")).ToContainTextAsync("warming up");
        await Expect(page.Locator("#timeline li").Last).ToContainTextAsync("now");

        // The page polls while the execution runs: a new line shows up, then the finish.
        await ExecuteAsync("INSERT INTO execution_logs (resource_group, execution_id, seq, ts, stream, msg) VALUES (@rg, @id, 3, 1767225664000, 'stdout', 'step 1 done')", new { rg, id });
        await Expect(page.Locator("#log-tail")).ToContainTextAsync("step 1 done");
        await ExecuteAsync("UPDATE executions SET status = 'COMPLETED', completion_time = 1767225670000, modified_at = 1767225670000 WHERE id = @id", new { id });
        await Expect(page.Locator("#exec-status")).ToHaveTextAsync("COMPLETED");
        await Expect(page.Locator("#timeline li[data-status='COMPLETED']")).ToContainTextAsync("2026-01-01 00:01:10Z");
        await Expect(page.Locator("#timeline li[data-status='RUNNING']")).ToContainTextAsync("8.0 s until COMPLETED");
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Keyboard_TabToAnExecutionOpenItAndOpenItsDeleteDialog()
    {
        var rg = await fixture.NewResourceGroupAsync();
        await ConsoleSeed.OtherScenarioAsync(Server, rg);
        var (context, page, errors) = await fixture.NewPageAsync();
        await using var _ = context;
        await ConsoleBrowser.SignInAsync(page, TestCredentials.AdminToken);
        await page.GotoAsync($"/ui/#/runs/{rg}");
        await Expect(page.Locator("h1")).ToHaveTextAsync($"Executions in {rg}");

        // From the top of the page (skip link, nav, sign-out, crumbs, filters) to an execution's link, then Enter.
        await TabToAsync(page, $"tr[data-execution='{rg}-gen-3'] a");
        await page.Keyboard.PressAsync("Enter");
        await Expect(page.Locator("#exec-status")).ToHaveTextAsync("COMPLETED");

        // The main action of the page, by keyboard: Delete… opens the preview with the focus in it; Escape closes it.
        await TabToAsync(page, "#delete");
        await page.Keyboard.PressAsync("Enter");
        await Expect(page.Locator("#confirm-delete")).ToBeFocusedAsync();
        await page.Keyboard.PressAsync("Escape");
        await Expect(page.Locator("#delete-dialog")).ToHaveCountAsync(0);
        Assert.Equal(1, await Server.CountAsync("SELECT COUNT(*) FROM executions WHERE id = @id AND deleting_job_id IS NULL", new { id = rg + "-gen-3" }));
        Assert.Empty(errors);
    }

    [Fact]
    public async Task SlowPage_LeftBeforeItLoaded_DoesNotDrawOverTheNextOne()
    {
        var rg = await fixture.NewResourceGroupAsync();
        await ConsoleSeed.OtherScenarioAsync(Server, rg);
        var (context, page, errors) = await fixture.NewPageAsync();
        await using var _ = context;
        // The resource-group list (the page after sign-in) answers only after the user has gone on.
        var release = new TaskCompletionSource();
        var answered = new TaskCompletionSource();
        await page.RouteAsync("**/ui/api/resource-groups/", async route =>
        {
            await release.Task;
            await route.ContinueAsync();
            answered.TrySetResult();
        });
        await ConsoleBrowser.SignInAsync(page, TestCredentials.AdminToken);
        await page.EvaluateAsync($"() => {{ location.hash = '#/runs/{rg}'; }}");
        await Expect(page.Locator("h1")).ToHaveTextAsync($"Executions in {rg}");

        release.SetResult();
        await answered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        // Give the late answer time to reach the page's script, then check it drew nothing.
        await page.WaitForFunctionAsync("() => new Promise(resolve => setTimeout(() => resolve(true), 500))");
        await Expect(page.Locator("h1")).ToHaveTextAsync($"Executions in {rg}");
        await Expect(page.Locator($"tr[data-execution='{rg}-gen-3']")).ToHaveCountAsync(1);
        await Expect(page.Locator(".error")).ToHaveCountAsync(0);
        Assert.Empty(errors);
    }

    [Fact]
    public async Task NarrowWindow_400px_MainPagesHaveNoHorizontalOverflow()
    {
        var rg = await fixture.NewResourceGroupAsync();
        await fixture.SeedRunsAsync(rg);
        var (context, page, errors) = await fixture.NewPageAsync(400, 800);
        await using var _ = context;
        await page.GotoAsync("/ui/");
        await Expect(page.Locator("#credential")).ToBeVisibleAsync();
        await AssertNoHorizontalOverflowAsync(page, "sign-in");
        await ConsoleBrowser.SignInAsync(page, TestCredentials.AdminToken);
        await AssertNoHorizontalOverflowAsync(page, "resource groups");
        await page.GotoAsync($"/ui/#/runs/{rg}");
        await Expect(page.Locator("tr[data-execution]")).ToHaveCountAsync(50);
        await AssertNoHorizontalOverflowAsync(page, "executions");
        await page.GotoAsync($"/ui/#/runs/{rg}/{rg}-ex-1?compare={rg}-ex-2");
        await Expect(page.Locator("figure.chart path.series")).ToHaveCountAsync(4);
        await AssertNoHorizontalOverflowAsync(page, "execution");
        await fixture.ScreenshotAsync(page, "execution-400px");
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Theme_DarkFollowsPrefersColorScheme_AndLightToo()
    {
        var (context, page, errors) = await fixture.NewPageAsync(colorScheme: ColorScheme.Dark);
        await using var _ = context;
        await ConsoleBrowser.SignInAsync(page, TestCredentials.AdminToken);
        const string colors = "() => [getComputedStyle(document.documentElement).backgroundColor, getComputedStyle(document.documentElement).color, getComputedStyle(document.querySelector('header.top')).backgroundColor]";
        Assert.Equal(["rgb(18, 21, 26)", "rgb(230, 233, 238)", "rgb(27, 31, 38)"], await page.EvaluateAsync<string[]>(colors));
        await fixture.ScreenshotAsync(page, "runs-dark");
        await page.EmulateMediaAsync(new() { ColorScheme = ColorScheme.Light });
        Assert.Equal(["rgb(247, 248, 250)", "rgb(27, 31, 36)", "rgb(255, 255, 255)"], await page.EvaluateAsync<string[]>(colors));
        Assert.Empty(errors);
    }

    private async Task ExecuteAsync(string sql, object args)
    {
        var database = Server.Service<IDatabase>();
        await using var connection = await database.OpenAsync(CancellationToken.None);
        await using var transaction = await database.BeginWriteAsync(connection, CancellationToken.None);
        await connection.ExecuteAsync(sql, args, transaction);
        await transaction.CommitAsync();
    }

    /// <summary>Presses Tab until the element matching the selector has the focus (at most 40 times).</summary>
    private static async Task TabToAsync(IPage page, string selector)
    {
        var target = page.Locator(selector);
        for (var i = 0; i < 40; i++)
        {
            await page.Keyboard.PressAsync("Tab");
            if (await target.EvaluateAsync<bool>("el => el === document.activeElement"))
            {
                return;
            }
        }

        Assert.Fail($"Tab never reached {selector}.");
    }

    private static async Task AssertNoHorizontalOverflowAsync(IPage page, string what)
    {
        var widths = await page.EvaluateAsync<int[]>("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]");
        Assert.True(widths[0] <= widths[1], $"The {what} page is {widths[0]} px wide in a {widths[1]} px window.");
    }

    private static async Task<Dictionary<string, long>> PreviewRowsAsync(IPage page)
    {
        var preview = new Dictionary<string, long>();
        foreach (var row in await page.Locator("#delete-dialog tr[data-kind]").AllAsync())
        {
            preview[(await row.GetAttributeAsync("data-kind"))!] = long.Parse((await row.Locator("td[data-rows]").GetAttributeAsync("data-rows"))!, CultureInfo.InvariantCulture);
        }

        return preview;
    }

    /// <summary>A project with dataset "qa-set" (v1: 3 records, v2: +2, v3: one of the first removed) and an experiment with 3 scored spans.</summary>
    private async Task<(string Id, string Name, string Experiment)> NewProjectWithExperimentAsync()
    {
        var name = "proj-" + Guid.NewGuid().ToString("N")[..8];
        var body = await (await Server.Datadog.PostAsync($"{LlmObs.V1}/projects", Http.JsonApi("projects", new JsonObject { ["name"] = name }))).ExpectAsync(HttpStatusCode.Created);
        var project = (string)body["data"]!["id"]!;
        var dataset = await Server.Datadog.NewDatasetAsync(project, "qa-set");
        var first = await Server.Datadog.AppendAsync(project, dataset, 3, "q");
        await Server.Datadog.AppendAsync(project, dataset, 2, "r");
        await (await Server.Datadog.PostAsync($"{LlmObs.V1}/{project}/datasets/{dataset}/records/delete", LlmObs.Delete("records", "record_ids", first[0]))).ExpectAsync(HttpStatusCode.NoContent);
        var experiment = await ExperimentTests.ExperimentAsync(Server.Datadog, project, "baseline");
        await (await Server.Datadog.PostAsync($"{LlmObs.V1}/experiments/{experiment}/events", EventTests.Push(project, 3))).ExpectAsync(HttpStatusCode.Accepted);
        return (project, name, experiment);
    }
}

public sealed class ConsoleBrowserTestsOnSqlite(SqliteConsoleBrowser fixture) : ConsoleBrowserTests(fixture), IClassFixture<SqliteConsoleBrowser>;

public sealed class ConsoleBrowserTestsOnPostgres(PostgresConsoleBrowser fixture) : ConsoleBrowserTests(fixture), IClassFixture<PostgresConsoleBrowser>;
