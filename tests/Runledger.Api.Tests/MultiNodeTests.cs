using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Dapper;
using Runledger.Api.Tests.Support;
using Runledger.Storage.Postgres;

namespace Runledger.Api.Tests;

/// <summary>
/// Several nodes, one PostgreSQL: two server processes share the work. Queued executions and
/// deletion jobs each go to exactly one node; a node killed in the middle of a large cascade
/// leaves its job to the other, which finishes it after the lease expires with exact counts.
/// </summary>
public sealed class MultiNodeTestsOnPostgres
{
    private const int Points = 200_000;
    private const int Attributes = 10;

    [Fact]
    public async Task TwoNodes_WorkClaimedOnce_KilledNodesCascadeFinishedByTheOther()
    {
        var postgres = await Postgres.CreateDatabaseAsync();
        var settings = TestCredentials.Settings();
        settings["Storage:Provider"] = "postgres";
        settings["Storage:Postgres"] = postgres;
        settings["Lifecycle:BatchSize"] = "1000";
        settings["Lifecycle:LeaseSeconds"] = "3";
        settings["Lifecycle:PollSeconds"] = "0.2";
        settings["Runner:TemplatesDir"] = Templates.CreateDirectory();
        settings["Runner:PollSeconds"] = "0.1";
        var nodes = new List<ServerProcess>();
        await using var database = PostgresDatabase.Create(postgres);
        try
        {
            // Both start at once: the migration lock lets one migrate while the other waits.
            nodes.Add(ServerProcess.Start(settings));
            nodes.Add(ServerProcess.Start(settings));
            await Task.WhenAll(nodes.Select(n => n.WaitReadyAsync(120)));
            using var a = GroupClient(nodes[0]);
            using var b = GroupClient(nodes[1]);

            // Queued executions: submitted to either node, each run by exactly one.
            var configuration = await a.CreateConfigurationAsync(Templates.Quick);
            var executions = new List<string>();
            for (var i = 0; i < 8; i++)
            {
                executions.Add(await (i % 2 == 0 ? a : b).StartExecutionAsync(configuration));
            }

            foreach (var id in executions)
            {
                await a.WaitForStatusAsync(id, "COMPLETED", 120);
                Assert.Equal(["hello world", "oops"], (await b.LogMessagesAsync(id)).Order(StringComparer.Ordinal));
            }

            // Deletion jobs: scheduled through both nodes, each worked once (one attempt, one finish).
            var jobs = new List<string>();
            for (var i = 0; i < 12; i++)
            {
                var admin = i % 2 == 0 ? a : b;
                var name = $"multi-{i}";
                await (await admin.PostAsync("/v2/admin/resourceGroups", Http.Json($$"""{"resourceGroupId":"{{name}}"}"""))).ExpectAsync(HttpStatusCode.Accepted);
                var deleted = await admin.DeleteAsync($"/v2/admin/resourceGroups/{name}");
                await deleted.ExpectAsync(HttpStatusCode.Accepted);
                jobs.Add(deleted.JobId());
            }

            foreach (var jobId in jobs)
            {
                var done = await Jobs.WaitForJobAsync(a, jobId, timeoutSeconds: 120);
                Assert.Equal(1, (long)done["attempts"]!);
                Assert.Equal(1, (long)done["rowsRemoved"]!);
            }

            await using (var connection = await database.OpenAsync(CancellationToken.None))
            {
                var finishes = (await connection.QueryAsync<(string JobId, long Count)>(
                    "SELECT job_id, COUNT(*) FROM audit_log WHERE action = 'deletion.finished' AND job_id = ANY(@jobs) GROUP BY job_id",
                    new { jobs = jobs.ToArray() })).ToList();
                Assert.Equal(jobs.Order(StringComparer.Ordinal), finishes.Select(f => f.JobId).Order(StringComparer.Ordinal));
                Assert.All(finishes, f => Assert.Equal(1, f.Count));
            }

            // A bystander: another group's executions and metrics, and the rest of this group, must come through untouched.
            await (await a.PostAsync("/v2/admin/resourceGroups", Http.Json("""{"resourceGroupId":"bystander"}"""))).ExpectAsync(HttpStatusCode.Accepted);
            await Seed.OwnedRowsAsync(database, "bystander", 50);
            await MetricSeed.ResourceAsync(database, "bystander", "mr-bystander", "bystander-ex-1", points: 5000, attributes: 5);
            var untouched = await UntouchedAsync(database, nodes[1], executions.Skip(1).ToList());

            // A large cascade: one metric resource with 200,000 points, seeded directly.
            var execution = executions[0];
            await SeedMetricsAsync(database, "mr-multi", execution);

            // The test locks one point half-way: the cascade commits batches up to it and then waits, so
            // the job cannot finish before the kill, whichever node runs it and however fast.
            await using var blocker = await database.OpenAsync(CancellationToken.None);
            var blocked = await blocker.BeginTransactionAsync();
            Assert.Single((await blocker.QueryAsync<long>(
                "SELECT ts FROM metric_points WHERE resource_id = 'mr-multi' AND ts = @middle FOR UPDATE", new { middle = (long)Points / 2 }, blocked)));
            var response = await a.DeleteAsync($"/v2/lm/metrics?executionId={execution}");
            await response.ExpectAsync(HttpStatusCode.OK);
            var bigJob = response.JobId();

            // Whichever node claimed it is killed once the cascade is visibly under way.
            string owner;
            using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
            {
                while (true)
                {
                    var job = await (await a.GetAsync($"/runledger/v1/deletions/{bigJob}", timeout.Token)).ExpectAsync(HttpStatusCode.OK);
                    Assert.True((string?)job["state"] is "queued" or "running", job.ToJsonString());
                    if ((long)job["rowsRemoved"]! > 0 && (string?)job["leaseOwner"] is { } leaseOwner)
                    {
                        owner = leaseOwner;
                        break;
                    }

                    await Task.Delay(20, timeout.Token);
                }
            }

            var victim = nodes.Single(n => owner.Split('/')[1] == n.Id.ToString(CultureInfo.InvariantCulture));
            var survivor = nodes.Single(n => n != victim);
            await victim.KillAsync();

            // One snapshot: what is left, what the job says it removed, and who holds it.
            var seeded = Points + Attributes;
            (long Left, long Removed, string Owner) atKill;
            await using (var afterKill = await database.OpenAsync(CancellationToken.None))
            {
                atKill = await afterKill.QuerySingleAsync<(long, long, string)>(
                    """
                    SELECT (SELECT COUNT(*) FROM metric_points WHERE resource_id = 'mr-multi') + (SELECT COUNT(*) FROM metric_attributes WHERE resource_id = 'mr-multi'),
                           rows_removed, lease_owner
                    FROM deletion_jobs WHERE id = @bigJob
                    """,
                    new { bigJob });
            }

            Assert.Equal(owner, atKill.Owner);
            Assert.InRange(atKill.Left, Points / 2, seeded - 1);
            Assert.Equal(seeded - atKill.Left, atKill.Removed);
            await blocked.RollbackAsync();
            await blocked.DisposeAsync();

            using var survivorClient = GroupClient(survivor);
            var finished = await Jobs.WaitForJobAsync(survivorClient, bigJob, timeoutSeconds: 120);
            Assert.Equal(seeded + 1, (long)finished["rowsRemoved"]!);
            Http.AssertJson($$"""{"metric_points":{{Points}},"metric_attributes":{{Attributes}},"metrics":1}""", finished["removed"]!);
            Assert.Equal(2, (long)finished["attempts"]!);
            Assert.Null(finished["leaseOwner"]);
            Assert.Null(finished["rowsLeft"]);

            await using (var connection = await database.OpenAsync(CancellationToken.None))
            {
                Assert.Equal(0, await connection.ExecuteScalarAsync<long>(
                    "SELECT (SELECT COUNT(*) FROM metric_points WHERE resource_id = 'mr-multi') + (SELECT COUNT(*) FROM metric_attributes WHERE resource_id = 'mr-multi') + (SELECT COUNT(*) FROM metric_resources WHERE id = 'mr-multi')"));
                Assert.Equal(1, await connection.ExecuteScalarAsync<long>(
                    "SELECT COUNT(*) FROM audit_log WHERE action = 'deletion.finished' AND job_id = @bigJob", new { bigJob }));
            }

            var verify = await (await survivorClient.GetAsync("/runledger/v1/audit/verify")).ExpectAsync(HttpStatusCode.OK);
            Assert.True((bool)verify["ok"]!, verify.ToJsonString());
            Http.AssertJson("""{"count":0,"resources":[]}""", await (await survivorClient.GetAsync($"/v2/lm/metrics?executionIds={execution}")).ExpectAsync(HttpStatusCode.OK));
            Assert.Equal(untouched, await UntouchedAsync(database, survivor, executions.Skip(1).ToList()));
        }
        finally
        {
            foreach (var node in nodes)
            {
                await node.DisposeAsync();
            }

            await Postgres.DropDatabaseAsync(postgres);
        }
    }

    [Fact]
    public async Task TwoNodes_RecordListKeptByOne_ShowsAChangeMadeOnTheOther()
    {
        var postgres = await Postgres.CreateDatabaseAsync();
        var settings = TestCredentials.Settings();
        settings["Storage:Provider"] = "postgres";
        settings["Storage:Postgres"] = postgres;
        settings["Runner:Enabled"] = "false";
        var nodes = new List<ServerProcess>();
        try
        {
            nodes.Add(ServerProcess.Start(settings));
            nodes.Add(ServerProcess.Start(settings));
            await Task.WhenAll(nodes.Select(n => n.WaitReadyAsync(120)));
            using var a = DatadogClient(nodes[0]);
            using var b = DatadogClient(nodes[1]);
            var project = await a.NewProjectAsync();
            var dataset = await a.NewDatasetAsync(project);
            var ids = await a.AppendAsync(project, dataset, 2);
            var records = $"{LlmObs.V1}/{project}/datasets/{dataset}/records";

            // Node A answers the list (and keeps the answer); node B changes a record's metadata, which
            // creates no version; node A's next answer has the change.
            async Task<string?> MetadataOnAAsync() =>
                (await (await a.GetAsync(records)).ExpectAsync(HttpStatusCode.OK))["data"]!.AsArray().Single(r => (string)r!["id"]! == ids[0])!["metadata"]?.ToJsonString();
            Assert.Null(await MetadataOnAAsync());
            Assert.Null(await MetadataOnAAsync());
            await (await b.PatchAsync(records, Http.JsonApi("records", new JsonObject
            {
                ["records"] = new JsonArray(new JsonObject { ["id"] = ids[0], ["metadata"] = new JsonObject { ["by"] = "b" } }),
            }))).ExpectAsync(HttpStatusCode.OK);
            Assert.Equal("""{"by":"b"}""", await MetadataOnAAsync());

            // And a delete on B: gone from A's list at once.
            await (await b.PostAsync(records + "/delete", Http.JsonApi("records", new JsonObject { ["record_ids"] = new JsonArray(ids[1]) })))
                .ExpectAsync(HttpStatusCode.NoContent);
            var left = (await (await a.GetAsync(records)).ExpectAsync(HttpStatusCode.OK))["data"]!.AsArray();
            Assert.Equal([ids[0]], left.Select(r => (string)r!["id"]!));
        }
        finally
        {
            foreach (var node in nodes)
            {
                await node.DisposeAsync();
            }

            await Postgres.DropDatabaseAsync(postgres);
        }
    }

    private static HttpClient DatadogClient(ServerProcess node)
    {
        var client = node.NewClient();
        client.DefaultRequestHeaders.Add("DD-API-KEY", TestCredentials.DatadogApiKey);
        client.DefaultRequestHeaders.Add("DD-APPLICATION-KEY", TestCredentials.DatadogAppKey);
        return client;
    }

    /// <summary>What must survive the cascade: the bystander group's rows and API reads, and this group's other executions with their logs.</summary>
    private static async Task<string> UntouchedAsync(PostgresDatabase database, ServerProcess node, IReadOnlyList<string> otherExecutions)
    {
        await using var connection = await database.OpenAsync(CancellationToken.None);
        var rows = await connection.QuerySingleAsync<(long, long, long, long, long, long)>(
            """
            SELECT (SELECT COUNT(*) FROM executions WHERE resource_group = 'bystander'),
                   (SELECT COUNT(*) FROM execution_logs WHERE resource_group = 'bystander'),
                   (SELECT COUNT(*) FROM metric_points WHERE resource_id = 'mr-bystander'),
                   (SELECT COUNT(*) FROM metric_attributes WHERE resource_id = 'mr-bystander'),
                   (SELECT COUNT(*) FROM executions WHERE id = ANY(@others)),
                   (SELECT COUNT(*) FROM execution_logs WHERE execution_id = ANY(@others))
            """,
            new { others = otherExecutions.ToArray() });
        using var bystander = node.NewClient();
        bystander.DefaultRequestHeaders.Add("AI-Resource-Group", "bystander");
        var executionsRead = await (await bystander.GetAsync("/v2/lm/executions?$top=1000")).ExpectAsync(HttpStatusCode.OK);
        var metricsRead = await (await bystander.GetAsync("/v2/lm/metrics?executionIds=bystander-ex-1")).ExpectAsync(HttpStatusCode.OK);
        return $"{rows} {executionsRead.ToJsonString()} {metricsRead.ToJsonString()}";
    }

    private static HttpClient GroupClient(ServerProcess node)
    {
        var client = node.NewClient();
        client.DefaultRequestHeaders.Add("AI-Resource-Group", "default");
        return client;
    }

    private static async Task SeedMetricsAsync(PostgresDatabase database, string resourceId, string executionId)
    {
        await using var connection = await database.OpenAsync(CancellationToken.None);
        await connection.ExecuteAsync(
            "INSERT INTO metric_resources (id, resource_group, execution_id, created_at, modified_at, next_seq) VALUES (@resourceId, 'default', @executionId, 1, 1, @points)",
            new { resourceId, executionId, points = (long)Points });
        await connection.ExecuteAsync(
            "INSERT INTO metric_points (resource_id, ts, step, seq, name, value) SELECT @resourceId, i, i, i, 'loss', i * 0.5 FROM generate_series(1, @points) AS i",
            new { resourceId, points = Points });
        await connection.ExecuteAsync(
            "INSERT INTO metric_attributes (resource_id, kind, name, value) SELECT @resourceId, 'tag', 'tag-' || i, 'v' FROM generate_series(1, @attributes) AS i",
            new { resourceId, attributes = Attributes });
    }
}
