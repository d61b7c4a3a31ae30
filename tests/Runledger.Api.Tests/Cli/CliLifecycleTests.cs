using System.Net;
using Runledger.Api.Tests.Support;

namespace Runledger.Api.Tests.Cli;

/// <summary>
/// The CLI commands over the lifecycle engine's endpoints (preview, restore, legal holds), against a
/// server where resource groups have a day of grace, so a deletion waits and can be undone.
/// </summary>
public sealed class CliLifecycleTests
{
    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task PreviewHoldRestore_ThroughTheCli(Provider provider)
    {
        await using var server = await TestServer.StartAsync(provider, new Dictionary<string, string?> { ["Lifecycle:Grace:resource_group"] = "1.00:00:00" });
        await (await server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json("""{"resourceGroupId":"cli-kept"}"""))).ExpectAsync(HttpStatusCode.Accepted);
        await Seed.OwnedRowsAsync(server.Service<Storage.IDatabase>(), "cli-kept", 20);

        var preview = await CliRunner.RunAsync(server, "deletions", "preview", "resource_group", "cli-kept", "-o", "json");
        Assert.True(preview.ExitCode == 0, preview.Error);
        var target = preview.Json["targets"]![0]!;
        Assert.True((bool)target["found"]!);
        Assert.Equal(20, (long)target["rows"]!["executions"]!);
        Assert.Equal(10, (long)target["rows"]!["configurations"]!);
        var previewTable = await CliRunner.RunAsync(server, "deletions", "preview", "resource_group", "cli-kept");
        Assert.Equal(0, previewTable.ExitCode);
        Assert.Contains("resource_group cli-kept (scope cli-kept)", previewTable.Output, StringComparison.Ordinal);
        Assert.Contains("executions", previewTable.Output, StringComparison.Ordinal);

        var held = await CliRunner.RunAsync(server, "hold", "set", "resource_group", "cli-kept", "--reason", "case 42");
        Assert.True(held.ExitCode == 0, held.Error);
        Assert.Equal("Held resource_group cli-kept (scope cli-kept): case 42", held.Output.Trim());
        var holds = await CliRunner.RunAsync(server, "hold", "list", "-o", "json");
        Assert.Equal(0, holds.ExitCode);
        Assert.Contains(holds.Json["holds"]!.AsArray(), h => (string?)h!["id"] == "cli-kept" && (string?)h["reason"] == "case 42");

        var refused = await CliRunner.RunAsync(server, "resource-groups", "delete", "cli-kept");
        Assert.Equal(1, refused.ExitCode);
        Assert.StartsWith("The server refused DELETE /v2/admin/resourceGroups/cli-kept: 412 Precondition Failed — ", refused.Error, StringComparison.Ordinal);
        Assert.Contains("case 42", refused.Error, StringComparison.Ordinal);

        var cleared = await CliRunner.RunAsync(server, "hold", "clear", "resource_group", "cli-kept");
        Assert.Equal(0, cleared.ExitCode);
        Assert.Equal("Cleared the hold on resource_group cli-kept.", cleared.Output.Trim());
        var again = await CliRunner.RunAsync(server, "hold", "clear", "resource_group", "cli-kept");
        Assert.Equal(1, again.ExitCode);

        var deleted = await CliRunner.RunAsync(server, "resource-groups", "delete", "cli-kept", "-o", "json");
        Assert.True(deleted.ExitCode == 0, deleted.Error);
        var jobId = (string)deleted.Json["deletionJob"]!;
        await (await server.Admin.GetAsync("/v2/admin/resourceGroups/cli-kept")).ExpectAsync(HttpStatusCode.NotFound);

        var restored = await CliRunner.RunAsync(server, "deletions", "restore", jobId);
        Assert.True(restored.ExitCode == 0, restored.Error);
        Assert.Equal($"Restored resource_group cli-kept (scope cli-kept); deletion job {jobId} is restored.", restored.Output.Trim());
        await (await server.Admin.GetAsync("/v2/admin/resourceGroups/cli-kept")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(10 + 20 + 20, await Seed.CountOwnedAsync(server.Service<Storage.IDatabase>(), "cli-kept"));

        // Watching a restored job ends at once: restored is an end, like done.
        var watched = await CliRunner.RunAsync(server, "deletions", "watch", jobId, "--interval", "0.05", "--timeout", "60");
        Assert.True(watched.ExitCode == 0, watched.Error);
        Assert.EndsWith($"Deletion job {jobId} was restored: the resource_group cli-kept is back and nothing was removed.", watched.Output.Trim(), StringComparison.Ordinal);
        var watchedJson = await CliRunner.RunAsync(server, "deletions", "watch", jobId, "--interval", "0.05", "--timeout", "60", "-o", "json");
        Assert.True(watchedJson.ExitCode == 0, watchedJson.Error);
        Assert.Equal("restored", (string?)watchedJson.Json["state"]);

        var twice = await CliRunner.RunAsync(server, "deletions", "restore", jobId);
        Assert.Equal(1, twice.ExitCode);
        Assert.StartsWith($"The server refused POST /runledger/v1/deletions/{jobId}/restore: 409 Conflict — ", twice.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task Retention_SetListDryRunThenRun_ThroughTheCli(Provider provider)
    {
        await using var server = await TestServer.StartAsync(provider, new Dictionary<string, string?> { ["Lifecycle:WorkerEnabled"] = "false" });
        var database = server.Service<Storage.IDatabase>();
        await (await server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json("""{"resourceGroupId":"cli-ret"}"""))).ExpectAsync(HttpStatusCode.Accepted);
        await Seed.OwnedRowsAsync(database, "cli-ret", 4);
        await using (var connection = await database.OpenAsync(CancellationToken.None))
        {
            // Two executions ended long ago; the other two just now.
            await Dapper.SqlMapper.ExecuteAsync(connection,
                "UPDATE executions SET completion_time = CASE WHEN id IN ('cli-ret-ex-1', 'cli-ret-ex-2') THEN 1 ELSE @now END WHERE resource_group = 'cli-ret'",
                new { now = TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds() });
        }

        var set = await CliRunner.RunAsync(server, "retention", "set", "resource_group", "cli-ret", "terminal_executions", "--days", "7");
        Assert.True(set.ExitCode == 0, set.Error);
        Assert.Equal("Retention terminal_executions on resource_group cli-ret: 7 days. Preview it with: runledger retention run --dry-run", set.Output.Trim());
        var bad = await CliRunner.RunAsync(server, "retention", "set", "resource_group", "cli-ret", "everything", "--days", "7");
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("400 Bad Request — There is no retention policy 'everything' for 'resource_group'", bad.Error, StringComparison.Ordinal);

        var list = await CliRunner.RunAsync(server, "retention", "list", "--scope-id", "cli-ret", "-o", "json");
        Assert.Equal(0, list.ExitCode);
        Assert.Equal(7, (long)list.Json["policies"]!.AsArray().Single(p => (string?)p!["policy"] == "terminal_executions")!["days"]!);
        var listTable = await CliRunner.RunAsync(server, "retention", "list");
        Assert.Equal(0, listTable.ExitCode);
        Assert.Contains("terminal_executions", listTable.Output, StringComparison.Ordinal);

        var dry = await CliRunner.RunAsync(server, "retention", "run", "--dry-run", "-o", "json");
        Assert.True(dry.ExitCode == 0, dry.Error);
        var outcome = dry.Json["results"]!.AsArray().Single(r => (string?)r!["scopeId"] == "cli-ret")!;
        Assert.Equal(["cli-ret-ex-1", "cli-ret-ex-2"], outcome["targets"]!.AsArray().Select(t => (string)t!["id"]!).Order(StringComparer.Ordinal));
        Assert.Empty(outcome["jobs"]!.AsArray());
        var dryTable = await CliRunner.RunAsync(server, "retention", "run", "--dry-run");
        Assert.Contains("Dry run: nothing was changed.", dryTable.Output, StringComparison.Ordinal);
        Assert.Equal(4 + 4 + 4, await Seed.CountOwnedAsync(database, "cli-ret")); // configurations, executions, logs: the dry runs changed nothing

        var run = await CliRunner.RunAsync(server, "retention", "run");
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("execution cli-ret-ex-1", run.Output, StringComparison.Ordinal);
        var jobs = await CliRunner.RunAsync(server, "deletions", "list", "--kind", "execution", "--scope", "cli-ret", "-o", "json");
        Assert.Equal(2, jobs.Json["jobs"]!.AsArray().Count);
        Assert.All(jobs.Json["jobs"]!.AsArray(), j => Assert.Equal("retention", (string?)j!["requestedBy"]));
    }
}
