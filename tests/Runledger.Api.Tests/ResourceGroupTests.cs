using System.Net;
using Runledger.Api.Tests.Support;
using Runledger.Server.Lifecycle;
using Runledger.Storage;

namespace Runledger.Api.Tests;

public abstract class ResourceGroupTests(ServerFixture fixture)
{
    private TestServer Server => fixture.Server;

    private static string NewId() => "rg-" + Guid.NewGuid().ToString("N")[..12];

    private Task<HttpResponseMessage> CreateAsync(string id, string labels = "[]") =>
        Server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json("{\"resourceGroupId\":\"" + id + "\",\"labels\":" + labels + "}"));

    [Fact]
    public async Task Default_ExistsFromTheStart()
    {
        var body = await (await Server.Admin.GetAsync("/v2/admin/resourceGroups/default")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("default", (string?)body["resourceGroupId"]);
        Assert.Equal("PROVISIONED", (string?)body["status"]);
    }

    [Fact]
    public async Task Create_ValidGroup_202ThenReadable()
    {
        var id = NewId();
        var created = await (await CreateAsync(id, """[{"key":"ext.ai.sap.com/team","value":"vision"}]""")).ExpectAsync(HttpStatusCode.Accepted);
        Http.AssertJson($$"""{"resourceGroupId":"{{id}}","tenantId":"default","zoneId":"default"}""", created);

        var body = await (await Server.Admin.GetAsync($"/v2/admin/resourceGroups/{id}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(id, (string?)body["resourceGroupId"]);
        Assert.Equal("PROVISIONED", (string?)body["status"]);
        Http.AssertJson("""[{"key":"ext.ai.sap.com/team","value":"vision"}]""", body["labels"]!);
        Assert.True(DateTimeOffset.TryParse((string?)body["createdAt"], System.Globalization.CultureInfo.InvariantCulture, out _));
    }

    [Fact]
    public async Task Create_Twice_409()
    {
        var id = NewId();
        await (await CreateAsync(id)).ExpectAsync(HttpStatusCode.Accepted);
        var response = await CreateAsync(id);
        var body = await response.ExpectAsync(HttpStatusCode.Conflict);
        Http.AssertJson(
            $$$"""{"error":{"code":"ResourceGroupAlreadyExists","message":"Resource group '{{{id}}}' already exists; choose another resourceGroupId.","requestId":"{requestId}","target":"/resourceGroups"}}""",
            body, response.RequestId());
    }

    [Theory]
    [InlineData("ab")]
    [InlineData("-leading-dash")]
    [InlineData("under_score")]
    public async Task Create_InvalidId_400AndNothingCreated(string id)
    {
        var response = await CreateAsync(id);
        var body = await response.ExpectAsync(HttpStatusCode.BadRequest);
        Http.AssertJson(
            $$$"""{"error":{"code":"InvalidResourceGroupId","message":"resourceGroupId '{{{id}}}' is invalid: it must be 3 to 253 characters of letters, digits, '.' and '-', starting and ending with a letter or digit.","requestId":"{requestId}","target":"/resourceGroups"}}""",
            body, response.RequestId());
        var list = await (await Server.Admin.GetAsync("/v2/admin/resourceGroups")).ExpectAsync(HttpStatusCode.OK);
        Assert.DoesNotContain(list["resources"]!.AsArray(), rg => (string?)rg!["resourceGroupId"] == id);
    }

    [Fact]
    public async Task Create_BadLabelKey_400NamesTheLabel()
    {
        var id = NewId();
        var body = await (await CreateAsync(id, """[{"key":"team","value":"x"}]""")).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("labels[0].key 'team' is invalid: it must start with 'ext.ai.sap.com/' followed by a name of letters, digits, '-', '_' and '.', at most 63 characters in all.", (string?)body["error"]!["message"]);
        await (await Server.Admin.GetAsync($"/v2/admin/resourceGroups/{id}")).ExpectAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task List_LabelSelectorAndPaging_SelectAndCount()
    {
        var team = Guid.NewGuid().ToString("N")[..8];
        var ids = Enumerable.Range(0, 5).Select(i => $"rg-{team}-{i}").ToList();
        foreach (var id in ids)
        {
            var tier = id.EndsWith('0') ? "gold" : "basic";
            await (await CreateAsync(id, $$"""[{"key":"ext.ai.sap.com/team","value":"{{team}}"},{"key":"ext.ai.sap.com/tier","value":"{{tier}}"}]""")).ExpectAsync(HttpStatusCode.Accepted);
        }

        var mine = await (await Server.Admin.GetAsync($"/v2/admin/resourceGroups?labelSelector=ext.ai.sap.com/team={team}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(ids, mine["resources"]!.AsArray().Select(r => (string)r!["resourceGroupId"]!).ToList());
        Assert.Equal(5, (int)mine["count"]!);

        var notGold = await (await Server.Admin.GetAsync($"/v2/admin/resourceGroups?labelSelector=ext.ai.sap.com/team={team},ext.ai.sap.com/tier!=gold")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(ids.Skip(1), notGold["resources"]!.AsArray().Select(r => (string)r!["resourceGroupId"]!));

        var page = await (await Server.Admin.GetAsync($"/v2/admin/resourceGroups?labelSelector=ext.ai.sap.com/team={team}&$top=2&$skip=1&$count=true")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(ids.Skip(1).Take(2), page["resources"]!.AsArray().Select(r => (string)r!["resourceGroupId"]!));
        Assert.Equal(5, (int)page["count"]!);

        var bad = await (await Server.Admin.GetAsync("/v2/admin/resourceGroups?$top=-1")).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("$top is '-1'; it must be a whole number of 0 or more.", (string?)bad["error"]!["message"]);
    }

    [Fact]
    public async Task List_MaxPageSize_FollowsLinkHeaderToTheEnd()
    {
        var team = Guid.NewGuid().ToString("N")[..8];
        var ids = Enumerable.Range(0, 5).Select(i => $"rg-{team}-{i}").ToList();
        foreach (var id in ids)
        {
            await (await CreateAsync(id, $$"""[{"key":"ext.ai.sap.com/team","value":"{{team}}"}]""")).ExpectAsync(HttpStatusCode.Accepted);
        }

        var seen = new List<string>();
        string? next = $"/v2/admin/resourceGroups?labelSelector=ext.ai.sap.com/team={team}";
        while (next is not null)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, next);
            request.Headers.Add("Prefer", "maxpagesize=2");
            var response = await Server.Admin.SendAsync(request);
            var body = await response.ExpectAsync(HttpStatusCode.OK);
            seen.AddRange(body["resources"]!.AsArray().Select(r => (string)r!["resourceGroupId"]!));
            next = response.Headers.TryGetValues("Link", out var links)
                ? new Uri(links.Single().Split('<', '>')[1]).PathAndQuery
                : null;
        }

        Assert.Equal(ids, seen);
        var expired = await (await Server.Admin.GetAsync("/v2/admin/resourceGroups?continueToken=bogus")).ExpectAsync(HttpStatusCode.Gone);
        Assert.Equal("ResourceExpired", (string?)expired["error"]!["code"]);
    }

    [Fact]
    public async Task Patch_Labels_202AndReplaced()
    {
        var id = NewId();
        await (await CreateAsync(id, """[{"key":"ext.ai.sap.com/a","value":"1"}]""")).ExpectAsync(HttpStatusCode.Accepted);
        var response = await Server.Admin.PatchAsync($"/v2/admin/resourceGroups/{id}", Http.Json("""{"labels":[{"key":"ext.ai.sap.com/b","value":"2"}]}"""));
        await response.ExpectAsync(HttpStatusCode.Accepted);
        Assert.Equal($"/v2/admin/resourceGroups/{id}", response.Headers.Location?.OriginalString);
        var body = await (await Server.Admin.GetAsync($"/v2/admin/resourceGroups/{id}")).ExpectAsync(HttpStatusCode.OK);
        Http.AssertJson("""[{"key":"ext.ai.sap.com/b","value":"2"}]""", body["labels"]!);

        await (await Server.Admin.PatchAsync("/v2/admin/resourceGroups/not-there", Http.Json("""{"labels":[]}"""))).ExpectAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Delete_Group_202GoneAtOnceJobFinishesAuditedNameReusable()
    {
        var id = NewId();
        await (await CreateAsync(id)).ExpectAsync(HttpStatusCode.Accepted);
        var database = Server.Service<IDatabase>();
        await Seed.OwnedRowsAsync(database, id, 2_500);

        // Used just before (so its "visible" answer is remembered by this node), refused right after.
        using var tenant = Server.InGroup(id);
        await (await tenant.GetAsync("/v2/lm/executions")).ExpectAsync(HttpStatusCode.OK);

        var response = await Server.Admin.DeleteAsync($"/v2/admin/resourceGroups/{id}");
        var body = await response.ExpectAsync(HttpStatusCode.Accepted);
        Http.AssertJson($$"""{"id":"{{id}}","message":"Resource Group deletion scheduled"}""", body);
        var jobId = response.JobId();

        // Gone for readers from the moment the 202 is sent.
        await (await Server.Admin.GetAsync($"/v2/admin/resourceGroups/{id}")).ExpectAsync(HttpStatusCode.NotFound);
        var scoped = await (await tenant.GetAsync("/v2/lm/executions")).ExpectAsync(HttpStatusCode.NotFound);
        Assert.Equal("ResourceGroupNotFound", (string?)scoped["error"]!["code"]);
        var list = await (await Server.Admin.GetAsync("/v2/admin/resourceGroups")).ExpectAsync(HttpStatusCode.OK);
        Assert.DoesNotContain(list["resources"]!.AsArray(), rg => (string?)rg!["resourceGroupId"] == id);

        var job = await Server.WaitForJobAsync(jobId);
        Assert.Equal("resource_group", (string?)job["kind"]);
        Assert.Equal(id, (string?)job["targetId"]);
        Assert.Equal("env-admin-token", (string?)job["requestedBy"]);
        Assert.Equal(10 + 2_500 + 2_500 + 1, (long)job["rowsRemoved"]!);
        Http.AssertJson("""{"metric_points":0,"metric_attributes":0,"metric_resources":0,"execution_logs":2500,"executions":2500,"configurations":10,"resource_group":1}""", job["removed"]!);
        Assert.Equal(0, await Seed.CountOwnedAsync(database, id));

        var audit = await (await Server.Admin.GetAsync($"/runledger/v1/audit?jobId={jobId}")).ExpectAsync(HttpStatusCode.OK);
        var entries = audit["entries"]!.AsArray();
        Assert.Equal(["deletion.requested", "deletion.finished"], entries.Select(e => (string)e!["action"]!));
        Assert.Equal("env-admin-token", (string?)entries[0]!["actor"]);
        Assert.Equal(5_011, (long)entries[1]!["counts"]!["executions"]! + (long)entries[1]!["counts"]!["execution_logs"]! + (long)entries[1]!["counts"]!["configurations"]! + (long)entries[1]!["counts"]!["resource_group"]!);
        Assert.Equal((string?)entries[0]!["hash"], (string?)entries[1]!["prevHash"]);

        // The name can be used again.
        await (await CreateAsync(id)).ExpectAsync(HttpStatusCode.Accepted);
        await (await Server.Admin.GetAsync($"/v2/admin/resourceGroups/{id}")).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Delete_OneGroup_LeavesAnotherGroupsDataUntouched()
    {
        var doomed = NewId();
        var kept = NewId();
        await (await CreateAsync(doomed)).ExpectAsync(HttpStatusCode.Accepted);
        await (await CreateAsync(kept, """[{"key":"ext.ai.sap.com/keep","value":"yes"}]""")).ExpectAsync(HttpStatusCode.Accepted);
        var database = Server.Service<IDatabase>();
        await Seed.OwnedRowsAsync(database, doomed, 1_000);
        await Seed.OwnedRowsAsync(database, kept, 1_000);

        var response = await Server.Admin.DeleteAsync($"/v2/admin/resourceGroups/{doomed}");
        await response.ExpectAsync(HttpStatusCode.Accepted);
        await Server.WaitForJobAsync(response.JobId());

        Assert.Equal(0, await Seed.CountOwnedAsync(database, doomed));
        Assert.Equal(10 + 1_000 + 1_000, await Seed.CountOwnedAsync(database, kept));
        var body = await (await Server.Admin.GetAsync($"/v2/admin/resourceGroups/{kept}")).ExpectAsync(HttpStatusCode.OK);
        Http.AssertJson("""[{"key":"ext.ai.sap.com/keep","value":"yes"}]""", body["labels"]!);
    }

    [Fact]
    public async Task Delete_UnknownOrAlreadyDeleted_404()
    {
        var response = await Server.Admin.DeleteAsync("/v2/admin/resourceGroups/never-existed");
        var body = await response.ExpectAsync(HttpStatusCode.NotFound);
        Http.AssertJson(
            """{"error":{"code":"ResourceGroupNotFound","message":"Resource group 'never-existed' does not exist (or is being deleted).","requestId":"{requestId}","target":"/resourceGroups/never-existed"}}""",
            body, response.RequestId());

        var id = NewId();
        await (await CreateAsync(id)).ExpectAsync(HttpStatusCode.Accepted);
        await (await Server.Admin.DeleteAsync($"/v2/admin/resourceGroups/{id}")).ExpectAsync(HttpStatusCode.Accepted);
        await (await Server.Admin.DeleteAsync($"/v2/admin/resourceGroups/{id}")).ExpectAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Delete_Default_400()
    {
        var body = await (await Server.Admin.DeleteAsync("/v2/admin/resourceGroups/default")).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("DefaultResourceGroupNotDeletable", (string?)body["error"]!["code"]);
        await (await Server.Admin.GetAsync("/v2/admin/resourceGroups/default")).ExpectAsync(HttpStatusCode.OK);
    }
}

public sealed class ResourceGroupTestsOnSqlite(SqliteServer fixture) : ResourceGroupTests(fixture), IClassFixture<SqliteServer>;

public sealed class ResourceGroupTestsOnPostgres(PostgresServer fixture) : ResourceGroupTests(fixture), IClassFixture<PostgresServer>;

/// <summary>
/// A node whose worker is off (an API-only node): the job stays queued, so "being deleted" can be
/// observed, and the worker loop is then triggered by hand.
/// </summary>
public sealed class PendingDeletionTests
{
    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task DeletingGroup_NameReservedUntilJobRuns(Provider provider)
    {
        await using var server = await TestServer.StartAsync(provider, new Dictionary<string, string?> { ["Lifecycle:WorkerEnabled"] = "false" });
        await (await server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json("""{"resourceGroupId":"reserved-name"}"""))).ExpectAsync(HttpStatusCode.Accepted);
        var response = await server.Admin.DeleteAsync("/v2/admin/resourceGroups/reserved-name");
        await response.ExpectAsync(HttpStatusCode.Accepted);

        var job = await (await server.Admin.GetAsync($"/runledger/v1/deletions/{response.JobId()}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("queued", (string?)job["state"]);
        await (await server.Admin.GetAsync("/v2/admin/resourceGroups/reserved-name")).ExpectAsync(HttpStatusCode.NotFound);
        await (await server.Admin.PatchAsync("/v2/admin/resourceGroups/reserved-name", Http.Json("""{"labels":[]}"""))).ExpectAsync(HttpStatusCode.NotFound);
        var conflict = await (await server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json("""{"resourceGroupId":"reserved-name"}"""))).ExpectAsync(HttpStatusCode.Conflict);
        Assert.Equal("Resource group 'reserved-name' is being deleted; its name can be used again once that deletion has finished.", (string?)conflict["error"]!["message"]);

        Assert.True(await server.Service<DeletionWorker>().RunOnceAsync(CancellationToken.None));
        Assert.False(await server.Service<DeletionWorker>().RunOnceAsync(CancellationToken.None));
        job = await (await server.Admin.GetAsync($"/runledger/v1/deletions/{response.JobId()}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("done", (string?)job["state"]);
        await (await server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json("""{"resourceGroupId":"reserved-name"}"""))).ExpectAsync(HttpStatusCode.Accepted);
    }
}
