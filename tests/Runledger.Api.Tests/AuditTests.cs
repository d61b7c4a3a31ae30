using System.Net;
using System.Text.Json.Nodes;
using Dapper;
using Runledger.Api.Tests.Support;
using Runledger.Storage;

namespace Runledger.Api.Tests;

/// <summary>
/// <c>/runledger/v1/audit</c>: filters and paging, the chain check, the JSON Lines export, and an
/// entry altered in the database behind the server's back (each test has its own server, since
/// tampering breaks the chain for good).
/// </summary>
public sealed class AuditTests
{
    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task Audit_FiltersPagesVerifiesAndExports_AlteredEntryNamedBySeq(Provider provider)
    {
        await using var server = await TestServer.StartAsync(provider);
        var jobs = new List<string>();
        foreach (var name in new[] { "audit-a", "audit-b", "audit-c" })
        {
            await (await server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json($$"""{"resourceGroupId":"{{name}}"}"""))).ExpectAsync(HttpStatusCode.Accepted);
            var response = await server.Admin.DeleteAsync($"/v2/admin/resourceGroups/{name}");
            await response.ExpectAsync(HttpStatusCode.Accepted);
            jobs.Add(response.JobId());
            await server.WaitForJobAsync(response.JobId());
        }

        var requested = await (await server.Admin.GetAsync("/runledger/v1/audit?action=deletion.requested&actor=env-admin-token")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(["audit-a", "audit-b", "audit-c"], requested["entries"]!.AsArray().Select(e => (string?)e!["targetId"]));
        Assert.Null(requested["nextCursor"]);
        var one = await (await server.Admin.GetAsync("/runledger/v1/audit?targetKind=resource_group&targetId=audit-b")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(["deletion.requested", "deletion.finished"], one["entries"]!.AsArray().Select(e => (string?)e!["action"]));
        Assert.Equal(jobs[1], (string?)one["entries"]![1]!["jobId"]);
        Http.AssertJson("""{"metric_points":0,"metric_attributes":0,"metric_resources":0,"execution_logs":0,"executions":0,"configurations":0,"resource_group":1}""", one["entries"]![1]!["counts"]!);
        var future = await (await server.Admin.GetAsync("/runledger/v1/audit?from=2100-01-01T00:00:00Z")).ExpectAsync(HttpStatusCode.OK);
        Assert.Empty(future["entries"]!.AsArray());

        // Paging: two at a time through all six entries, in order, each once.
        var seqs = new List<long>();
        string? cursor = null;
        do
        {
            var page = await (await server.Admin.GetAsync("/runledger/v1/audit?limit=2" + (cursor is null ? "" : $"&cursor={cursor}"))).ExpectAsync(HttpStatusCode.OK);
            seqs.AddRange(page["entries"]!.AsArray().Select(e => (long)e!["seq"]!));
            cursor = (string?)page["nextCursor"];
        }
        while (cursor is not null && seqs.Count < 100);
        Assert.Equal(6, seqs.Count);
        Assert.Equal(seqs.Order(), seqs);

        var verify = await (await server.Admin.GetAsync("/runledger/v1/audit/verify")).ExpectAsync(HttpStatusCode.OK);
        Assert.True((bool)verify["ok"]!);
        Assert.Equal(6, (long)verify["entries"]!);
        Assert.Null(verify["firstBadSeq"]);

        var export = await server.Admin.GetAsync("/runledger/v1/audit/export?targetKind=resource_group");
        Assert.Equal(HttpStatusCode.OK, export.StatusCode);
        Assert.Equal("application/x-ndjson", export.Content.Headers.ContentType?.MediaType);
        var lines = (await export.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(seqs, lines.Select(l => (long)JsonNode.Parse(l)!["seq"]!));
        var filtered = (await (await server.Admin.GetAsync("/runledger/v1/audit/export?action=deletion.finished")).Content.ReadAsStringAsync())
            .Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(jobs, filtered.Select(l => (string?)JsonNode.Parse(l)!["jobId"]));

        // Someone edits the fourth entry directly in the database.
        var altered = seqs[3];
        await using (var connection = await server.Service<IDatabase>().OpenAsync(CancellationToken.None))
        {
            Assert.Equal(1, await connection.ExecuteAsync("UPDATE audit_log SET actor = 'someone-else' WHERE seq = @altered", new { altered }));
        }

        var broken = await (await server.Admin.GetAsync("/runledger/v1/audit/verify")).ExpectAsync(HttpStatusCode.OK);
        Http.AssertJson(
            $$"""{"ok":false,"entries":6,"firstBadSeq":{{altered}},"detail":"Entry {{altered}} (deletion.finished resource_group audit-b) does not match its stored hash: its fields were changed after it was written."}""",
            broken);
    }

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task Audit_EntryRemoved_VerifyNamesTheNextSeq(Provider provider)
    {
        await using var server = await TestServer.StartAsync(provider);
        foreach (var name in new[] { "gone-a", "gone-b" })
        {
            await (await server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json($$"""{"resourceGroupId":"{{name}}"}"""))).ExpectAsync(HttpStatusCode.Accepted);
            var response = await server.Admin.DeleteAsync($"/v2/admin/resourceGroups/{name}");
            await server.WaitForJobAsync(response.JobId());
        }

        var all = await (await server.Admin.GetAsync("/runledger/v1/audit")).ExpectAsync(HttpStatusCode.OK);
        var seqs = all["entries"]!.AsArray().Select(e => (long)e!["seq"]!).ToList();
        await using (var connection = await server.Service<IDatabase>().OpenAsync(CancellationToken.None))
        {
            await connection.ExecuteAsync("DELETE FROM audit_log WHERE seq = @seq", new { seq = seqs[1] });
        }

        var broken = await (await server.Admin.GetAsync("/runledger/v1/audit/verify")).ExpectAsync(HttpStatusCode.OK);
        Assert.False((bool)broken["ok"]!);
        Assert.Equal(3, (long)broken["entries"]!);
        Assert.Equal(seqs[2], (long)broken["firstBadSeq"]!);
        Assert.StartsWith($"Entry {seqs[2]} names '", (string?)broken["detail"], StringComparison.Ordinal);
        Assert.EndsWith("an entry before it was changed, removed or inserted.", (string?)broken["detail"], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task Audit_TailCut_VerifyNamesTheFirstMissingSeq(Provider provider)
    {
        await using var server = await TestServer.StartAsync(provider);
        foreach (var name in new[] { "tail-a", "tail-b" })
        {
            await (await server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json($$"""{"resourceGroupId":"{{name}}"}"""))).ExpectAsync(HttpStatusCode.Accepted);
            var response = await server.Admin.DeleteAsync($"/v2/admin/resourceGroups/{name}");
            await server.WaitForJobAsync(response.JobId());
        }

        var entries = (await (await server.Admin.GetAsync("/runledger/v1/audit")).ExpectAsync(HttpStatusCode.OK))["entries"]!.AsArray();
        Assert.Equal(4, entries.Count);
        var ok = await (await server.Admin.GetAsync("/runledger/v1/audit/verify")).ExpectAsync(HttpStatusCode.OK);
        Assert.True((bool)ok["ok"]!, ok.ToJsonString());

        // The newest entry is cut off: every remaining entry still links up, but the anchor knows better.
        var last = (long)entries[3]!["seq"]!;
        var kept = (long)entries[2]!["seq"]!;
        var lastHash = (string)entries[3]!["hash"]!;
        await using (var connection = await server.Service<IDatabase>().OpenAsync(CancellationToken.None))
        {
            Assert.Equal(1, await connection.ExecuteAsync("DELETE FROM audit_log WHERE seq = @last", new { last }));
        }

        var broken = await (await server.Admin.GetAsync("/runledger/v1/audit/verify")).ExpectAsync(HttpStatusCode.OK);
        Http.AssertJson(
            $$"""{"ok":false,"entries":3,"firstBadSeq":{{last}},"detail":"The audit log ends at entry {{kept}}, but its anchor records entry {{last}} ('{{lastHash[..12]}}…') as the newest: the entries after {{kept}} were removed."}""",
            broken);

        // Everything cut: still named.
        await using (var connection = await server.Service<IDatabase>().OpenAsync(CancellationToken.None))
        {
            Assert.Equal(3, await connection.ExecuteAsync("DELETE FROM audit_log"));
        }

        var empty = await (await server.Admin.GetAsync("/runledger/v1/audit/verify")).ExpectAsync(HttpStatusCode.OK);
        Http.AssertJson(
            $$"""{"ok":false,"entries":0,"firstBadSeq":1,"detail":"The audit log is empty, but its anchor records entry {{last}} ('{{lastHash[..12]}}…') as the newest: every entry was removed."}""",
            empty);
    }

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task Audit_BadCursor_400(Provider provider)
    {
        await using var server = await TestServer.StartAsync(provider);
        var response = await server.Admin.GetAsync("/runledger/v1/audit/export?cursor=abc");
        var body = await response.ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("cursor 'abc' is not a sequence number; pass the nextCursor of the previous page unchanged.", (string?)body["detail"]);
    }
}
