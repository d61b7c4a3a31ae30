using System.Net;
using System.Text.Json.Nodes;
using Dapper;
using Runledger.Api.Tests.Support;
using Runledger.Cli;
using Runledger.Storage;

namespace Runledger.Api.Tests.Cli;

/// <summary>What one in-process run of <c>runledger</c> printed and exited with.</summary>
public sealed record CliRun(int ExitCode, string Output, string Error)
{
    public JsonNode Json => JsonNode.Parse(Output) ?? throw new InvalidOperationException("no output");
}

public static class CliRunner
{
    /// <summary>
    /// Runs the CLI's root command with <paramref name="args"/>, capturing stdout and stderr.
    /// Environment variables come only from <paramref name="variables"/>, never from the test process.
    /// </summary>
    public static async Task<CliRun> RunAsync(IDictionary<string, string?> variables, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var exit = await CliApp.RunAsync(args, output, error, name => variables.TryGetValue(name, out var value) ? value : null, TimeProvider.System, timeout.Token)
            .WaitAsync(TimeSpan.FromSeconds(90));
        return new CliRun(exit, output.ToString(), error.ToString());
    }

    /// <summary>Against <paramref name="server"/> with its admin token, given as flags.</summary>
    public static Task<CliRun> RunAsync(TestServer server, params string[] args) =>
        RunAsync(new Dictionary<string, string?>(), [.. args, "--server", server.BaseAddress.ToString(), "--token", TestCredentials.AdminToken]);
}

/// <summary>The CLI against a live server: each command in table and JSON form, and the documented exit codes.</summary>
public abstract class CliTests(ServerFixture fixture)
{
    private TestServer Server => fixture.Server;

    private Task<CliRun> Cli(params string[] args) => CliRunner.RunAsync(Server, args);

    private static void Ok(CliRun run) => Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}\nstdout: {run.Output}\nstderr: {run.Error}");

    [Fact]
    public async Task ResourceGroups_CreateListDelete_ThenWatchShowListTheJob()
    {
        var created = await Cli("resource-groups", "create", "cli-group", "--label", "ext.ai.sap.com/team=vision", "--output", "json");
        Ok(created);
        Assert.Equal("cli-group", (string?)created.Json["resourceGroupId"]);

        var listed = await Cli("resource-groups", "list", "-o", "json");
        Ok(listed);
        var group = listed.Json["resources"]!.AsArray().Single(g => (string?)g!["resourceGroupId"] == "cli-group")!;
        Http.AssertJson("""[{"key":"ext.ai.sap.com/team","value":"vision"}]""", group["labels"]!);
        var table = await Cli("resource-groups", "list");
        Ok(table);
        Assert.Contains("cli-group", table.Output, StringComparison.Ordinal);
        Assert.Contains("ext.ai.sap.com/team=vision", table.Output, StringComparison.Ordinal);

        var deleted = await Cli("resource-groups", "delete", "cli-group", "-o", "json");
        Ok(deleted);
        Assert.Equal("Resource Group deletion scheduled", (string?)deleted.Json["message"]);
        var jobId = (string)deleted.Json["deletionJob"]!;

        var watched = await Cli("deletions", "watch", jobId, "--interval", "0.05", "-o", "json");
        Ok(watched);
        Assert.Equal("done", (string?)watched.Json["state"]);
        Assert.Equal(1, (long)watched.Json["removed"]!["resource_group"]!);

        var watchedTable = await Cli("deletions", "watch", jobId, "--interval", "0.05");
        Ok(watchedTable);
        Assert.Contains("resource_group cli-group: done", watchedTable.Output, StringComparison.Ordinal);

        var shown = await Cli("deletions", "show", jobId);
        Ok(shown);
        Assert.Contains($"Job:", shown.Output, StringComparison.Ordinal);
        Assert.Contains(jobId, shown.Output, StringComparison.Ordinal);
        Assert.Contains("resource_group cli-group (scope cli-group)", shown.Output, StringComparison.Ordinal);
        Assert.Contains("env-admin-token", shown.Output, StringComparison.Ordinal);

        var jobs = await Cli("deletions", "list", "--target", "cli-group", "--kind", "resource_group", "--all", "-o", "json");
        Ok(jobs);
        Assert.Equal([jobId], jobs.Json["jobs"]!.AsArray().Select(j => (string?)j!["id"]));
        var jobsTable = await Cli("deletions", "list", "--target", "cli-group");
        Ok(jobsTable);
        Assert.Contains(jobId, jobsTable.Output, StringComparison.Ordinal);
        Assert.Contains("1 job(s).", jobsTable.Output, StringComparison.Ordinal);

        var gone = await Server.Admin.GetAsync("/v2/admin/resourceGroups/cli-group");
        await gone.ExpectAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Credentials_CreateUseListRevoke_RevokedTokenExits1WithFix()
    {
        var created = await Cli("credentials", "create", "--kind", "bearer_token", "--name", "cli user", "--scope", "admin", "-o", "json");
        Ok(created);
        var id = (string)created.Json["id"]!;
        var secret = (string)created.Json["secret"]!;

        // The new token drives the CLI itself, through the environment variables this time.
        var variables = new Dictionary<string, string?> { ["RUNLEDGER_URL"] = Server.BaseAddress.ToString(), ["RUNLEDGER_ADMIN_TOKEN"] = secret };
        var listed = await CliRunner.RunAsync(variables, "credentials", "list", "--kind", "bearer_token", "-o", "json");
        Ok(listed);
        var mine = listed.Json["credentials"]!.AsArray().Single(c => (string?)c!["id"] == id)!;
        Assert.Equal("cli user", (string?)mine["name"]);
        Assert.DoesNotContain(secret, listed.Output, StringComparison.Ordinal);

        var table = await Cli("credentials", "list");
        Ok(table);
        Assert.Contains(id, table.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, table.Output, StringComparison.Ordinal);

        var shownOnce = await Cli("credentials", "create", "--kind", "dd_app_key", "--name", "reader", "--scope", "read", "--org", "cli-org");
        Ok(shownOnce);
        Assert.Contains("Store the secret now", shownOnce.Output, StringComparison.Ordinal);

        var revoked = await Cli("credentials", "revoke", id);
        Ok(revoked);
        Assert.StartsWith($"Revoked bearer_token {id} ('cli user') at ", revoked.Output, StringComparison.Ordinal);

        var refused = await CliRunner.RunAsync(variables, "deletions", "list");
        Assert.Equal(1, refused.ExitCode);
        Assert.Equal(
            "The server refused GET /runledger/v1/deletions?limit=100: 401 Unauthorized — The bearer token is not known or has been revoked. Pass a valid admin token with --token or $RUNLEDGER_ADMIN_TOKEN.",
            refused.Error.Trim());
        Assert.Empty(refused.Output);

        var again = await Cli("credentials", "revoke", id, "-o", "json");
        Assert.Equal(1, again.ExitCode);
        Assert.Contains($"409 Conflict — Credential '{id}' is already revoked.", again.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Audit_VerifyAndExport_JsonLinesToStdoutAndFile()
    {
        await (await Server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json("""{"resourceGroupId":"cli-audit"}"""))).ExpectAsync(HttpStatusCode.Accepted);
        var response = await Server.Admin.DeleteAsync("/v2/admin/resourceGroups/cli-audit");
        var jobId = response.JobId();
        await Server.WaitForJobAsync(jobId);

        var verify = await Cli("audit", "verify");
        Ok(verify);
        Assert.StartsWith("OK: All ", verify.Output, StringComparison.Ordinal);
        var verifyJson = await Cli("audit", "verify", "-o", "json");
        Ok(verifyJson);
        Assert.True((bool)verifyJson.Json["ok"]!);

        var export = await Cli("audit", "export", "--job", jobId);
        Ok(export);
        var lines = export.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(["deletion.requested", "deletion.finished"], lines.Select(l => (string?)l["action"]));

        var file = Path.Combine(Path.GetTempPath(), $"runledger-audit-{Guid.NewGuid():N}.jsonl");
        try
        {
            var toFile = await Cli("audit", "export", "--target-id", "cli-audit", "--action", "deletion.finished", "--file", file);
            Ok(toFile);
            Assert.Empty(toFile.Output);
            Assert.Equal($"Wrote 1 audit entries to {file}.", toFile.Error.Trim());
            Assert.Equal(jobId, (string?)JsonNode.Parse(File.ReadAllLines(file).Single())!["jobId"]);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task ExitCodes_RefusedUsageUnreachable_MessagesNameTheFix()
    {
        var missing = await Cli("deletions", "show", "nope");
        Assert.Equal(1, missing.ExitCode);
        Assert.Equal("The server refused GET /runledger/v1/deletions/nope: 404 Not Found — There is no deletion job 'nope'.", missing.Error.Trim());

        var unknownCommand = await Cli("deletions", "explode");
        Assert.Equal(2, unknownCommand.ExitCode);
        Assert.Contains("Unrecognized command or argument 'explode'.", unknownCommand.Error, StringComparison.Ordinal);
        Assert.Contains("Run 'runledger deletions --help' to see what it takes.", unknownCommand.Error, StringComparison.Ordinal);

        var badState = await Cli("deletions", "list", "--state", "gone");
        Assert.Equal(2, badState.ExitCode);

        var noToken = await CliRunner.RunAsync(new Dictionary<string, string?> { ["RUNLEDGER_URL"] = Server.BaseAddress.ToString() }, "audit", "verify");
        Assert.Equal(2, noToken.ExitCode);
        Assert.Equal(
            "No admin token: pass --token or set RUNLEDGER_ADMIN_TOKEN (the server prints one on its first start; or start the server with RUNLEDGER_ADMIN_TOKEN set and use the same value).",
            noToken.Error.Trim());

        var badUrl = await CliRunner.RunAsync(new Dictionary<string, string?>(), "audit", "verify", "--server", "ftp://x", "--token", "t");
        Assert.Equal(2, badUrl.ExitCode);
        Assert.Equal("--server 'ftp://x' is not an http(s) URL; use e.g. http://127.0.0.1:8080.", badUrl.Error.Trim());

        var unreachable = await CliRunner.RunAsync(new Dictionary<string, string?>(), "deletions", "list", "--server", "http://127.0.0.1:1", "--token", "t");
        Assert.Equal(3, unreachable.ExitCode);
        Assert.StartsWith("Cannot reach the Runledger server at http://127.0.0.1:1/: ", unreachable.Error, StringComparison.Ordinal);
        Assert.Contains("point --server (or $RUNLEDGER_URL) at it.", unreachable.Error, StringComparison.Ordinal);

        var weak = await Server.AddCredentialAsync(Storage.Credentials.CredentialKinds.BearerToken, "read");
        var forbidden = await CliRunner.RunAsync(new Dictionary<string, string?>(), "deletions", "list", "--server", Server.BaseAddress.ToString(), "--token", weak);
        Assert.Equal(1, forbidden.ExitCode);
        Assert.Contains("403 Forbidden — This credential does not have the 'admin' scope this operation needs. Use a token with the 'admin' scope", forbidden.Error, StringComparison.Ordinal);

        var help = await Cli("--help");
        Ok(help);
        Assert.Contains("Exit codes: 0 ok, 1 the server refused, 2 usage error, 3 server unreachable, 4 check failed.", help.Output, StringComparison.Ordinal);
    }
}

public sealed class CliTestsOnSqlite(SqliteServer fixture) : CliTests(fixture), IClassFixture<SqliteServer>;

public sealed class CliTestsOnPostgres(PostgresServer fixture) : CliTests(fixture), IClassFixture<PostgresServer>;

/// <summary>Exit 4: the check ran and found bad news (a tampered audit chain; a failed job), each on its own server.</summary>
public sealed class CliCheckFailedTests
{
    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task AuditVerify_TamperedEntry_Exit4NamesEntry_WatchFailedJob_Exit4ThenRetryFinishes(Provider provider)
    {
        await using var server = await TestServer.StartAsync(provider, new Dictionary<string, string?> { ["Lifecycle:MaxAttempts"] = "1" });
        var database = server.Service<IDatabase>();
        await (await server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json("""{"resourceGroupId":"cli-broken"}"""))).ExpectAsync(HttpStatusCode.Accepted);
        await Seed.OwnedRowsAsync(database, "cli-broken", 10);
        await ExecuteAsync(database, "ALTER TABLE execution_logs RENAME TO execution_logs_away");
        var response = await server.Admin.DeleteAsync("/v2/admin/resourceGroups/cli-broken");
        var jobId = response.JobId();

        var failed = await CliRunner.RunAsync(server, "deletions", "watch", jobId, "--interval", "0.05");
        Assert.Equal(4, failed.ExitCode);
        Assert.StartsWith($"Deletion job {jobId} failed after 1 attempt(s): ", failed.Error, StringComparison.Ordinal);
        Assert.EndsWith($"Fix the cause, then: runledger deletions retry {jobId}", failed.Error.Trim(), StringComparison.Ordinal);

        await ExecuteAsync(database, "ALTER TABLE execution_logs_away RENAME TO execution_logs");
        var retried = await CliRunner.RunAsync(server, "deletions", "retry", jobId);
        Assert.Equal(0, retried.ExitCode);
        // The line reports the job's state as the server answered it: the worker, woken by the retry, may already have it.
        Assert.Matches($"^Deletion job {jobId} is (queued|running|done) again; follow it with: runledger deletions watch {jobId}$", retried.Output.Trim());
        var done = await CliRunner.RunAsync(server, "deletions", "watch", jobId, "--interval", "0.05", "-o", "json");
        Assert.Equal(0, done.ExitCode);
        Assert.Equal(0, await Seed.CountOwnedAsync(database, "cli-broken"));

        await ExecuteAsync(database, "UPDATE audit_log SET detail = 'nothing to see' WHERE action = 'deletion.retried'");
        var seq = (long)(await (await server.Admin.GetAsync("/runledger/v1/audit?action=deletion.retried")).ExpectAsync(HttpStatusCode.OK))["entries"]![0]!["seq"]!;
        var verify = await CliRunner.RunAsync(server, "audit", "verify");
        Assert.Equal(4, verify.ExitCode);
        Assert.Equal(
            $"BROKEN at entry {seq} of 3: Entry {seq} (deletion.retried resource_group cli-broken) does not match its stored hash: its fields were changed after it was written.",
            verify.Output.Trim());
    }

    private static async Task ExecuteAsync(IDatabase database, string sql)
    {
        await using var connection = await database.OpenAsync(CancellationToken.None);
        await connection.ExecuteAsync(sql);
    }
}
