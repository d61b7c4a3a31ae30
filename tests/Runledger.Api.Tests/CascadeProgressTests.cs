using System.Net;
using System.Text.Json.Nodes;
using Dapper;
using Microsoft.Extensions.Time.Testing;
using Runledger.Api.Tests.Support;
using Runledger.Server.Lifecycle;
using Runledger.Storage;

namespace Runledger.Api.Tests;

/// <summary>
/// A large cascade followed part-way: the worker is triggered one batch at a time on a fake clock, and
/// after each batch the job shows exactly how many rows are gone and how many are left.
/// </summary>
public sealed class CascadeProgressTests
{
    private const int BatchSize = 50;

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task LargeCascade_OneBatchAtATime_RowsRemovedGrowRowsLeftShrinkExactly(Provider provider)
    {
        var clock = new FakeTimeProvider(DateTimeOffset.Parse("2026-11-23T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        await using var server = await TestServer.StartAsync(
            provider,
            new Dictionary<string, string?> { ["Lifecycle:WorkerEnabled"] = "false", ["Lifecycle:BatchSize"] = BatchSize.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            services => services.AddSingleton<TimeProvider>(clock));
        var database = server.Service<IDatabase>();
        var worker = server.Service<DeletionWorker>();
        foreach (var group in new[] { "big", "bystander" })
        {
            await (await server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json($$"""{"resourceGroupId":"{{group}}"}"""))).ExpectAsync(HttpStatusCode.Accepted);
        }

        // 10 configurations, 300 executions, 300 log lines, 2 metric resources with 500 points and 10 attributes.
        await Seed.OwnedRowsAsync(database, "big", 300);
        await MetricSeed.ResourceAsync(database, "big", "big-mr-1", "big-ex-1", points: 400, attributes: 6);
        await MetricSeed.ResourceAsync(database, "big", "big-mr-2", "big-ex-2", points: 100, attributes: 4);
        await Seed.OwnedRowsAsync(database, "bystander", 5);
        await MetricSeed.ResourceAsync(database, "bystander", "bystander-mr-1", "bystander-ex-1", points: 70, attributes: 3);
        const long children = 10 + 300 + 300 + 2 + 500 + 10;

        var response = await server.Admin.DeleteAsync("/v2/admin/resourceGroups/big");
        await response.ExpectAsync(HttpStatusCode.Accepted);
        var jobId = response.JobId();
        var job = await JobAsync(server, jobId);
        Assert.Equal("queued", (string?)job["state"]);
        Assert.Equal(children, Sum(job["rowsLeft"]));

        var steps = (int)(children / BatchSize);
        for (var step = 1; step <= steps; step++)
        {
            Assert.True(await worker.RunOnceAsync(maxBatches: 1, CancellationToken.None));
            job = await JobAsync(server, jobId);
            Assert.Equal("running", (string?)job["state"]);
            Assert.Equal(worker.NodeId, (string?)job["leaseOwner"]);
            Assert.Equal(1, (long)job["attempts"]!);
            Assert.Equal((long)BatchSize * step, (long)job["rowsRemoved"]!);
            Assert.Equal((long)BatchSize * step, Sum(job["removed"]));
            Assert.Equal(children - ((long)BatchSize * step), Sum(job["rowsLeft"]));
        }

        // The rest (fewer than a batch) and the group itself, in one last transaction.
        Assert.True(await worker.RunOnceAsync(maxBatches: 1, CancellationToken.None));
        job = await JobAsync(server, jobId);
        Assert.Equal("done", (string?)job["state"]);
        Assert.Equal(children + 1, (long)job["rowsRemoved"]!);
        Http.AssertJson(
            """{"metric_points":500,"metric_attributes":10,"metric_resources":2,"execution_logs":300,"executions":300,"configurations":10,"resource_group":1}""",
            job["removed"]!);
        Assert.Null(job["rowsLeft"]);
        Assert.Null(job["leaseOwner"]);
        Assert.Equal(1, (long)job["attempts"]!);
        Assert.False(await worker.RunOnceAsync(maxBatches: 1, CancellationToken.None));

        Assert.Equal(0, await Seed.CountOwnedAsync(database, "big"));
        Assert.Equal(5 + 5 + 5, await Seed.CountOwnedAsync(database, "bystander")); // configurations: one per execution up to 10
        await using (var connection = await database.OpenAsync(CancellationToken.None))
        {
            Assert.Equal((0L, 73L), await connection.QuerySingleAsync<(long, long)>(
                """
                SELECT (SELECT COUNT(*) FROM metric_points WHERE resource_id IN ('big-mr-1', 'big-mr-2')),
                       (SELECT COUNT(*) FROM metric_points WHERE resource_id = 'bystander-mr-1') + (SELECT COUNT(*) FROM metric_attributes WHERE resource_id = 'bystander-mr-1')
                """));
        }

        var verify = await (await server.Admin.GetAsync("/runledger/v1/audit/verify")).ExpectAsync(HttpStatusCode.OK);
        Assert.True((bool)verify["ok"]!, verify.ToJsonString());
    }

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task LargeCascade_HoldSetPartWay_NextBatchWaitsAndNothingHeldIsRemoved(Provider provider)
    {
        var start = DateTimeOffset.Parse("2026-11-23T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
        var clock = new FakeTimeProvider(start);
        await using var server = await TestServer.StartAsync(
            provider,
            new Dictionary<string, string?> { ["Lifecycle:WorkerEnabled"] = "false", ["Lifecycle:BatchSize"] = BatchSize.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            services => services.AddSingleton<TimeProvider>(clock));
        var database = server.Service<IDatabase>();
        var worker = server.Service<DeletionWorker>();
        await (await server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json("""{"resourceGroupId":"mid"}"""))).ExpectAsync(HttpStatusCode.Accepted);
        await Seed.OwnedRowsAsync(database, "mid", 200);
        var response = await server.Admin.DeleteAsync("/v2/admin/resourceGroups/mid");
        await response.ExpectAsync(HttpStatusCode.Accepted);
        var jobId = response.JobId();

        using var outcomes = new DurationOutcomes();
        Assert.True(await worker.RunOnceAsync(maxBatches: 1, CancellationToken.None));
        Assert.Equal(BatchSize, (long)(await JobAsync(server, jobId))["rowsRemoved"]!);

        // A hold on an execution the cascade has not reached yet: the next batch checks and stops.
        await (await server.Admin.PutAsync("/runledger/v1/holds/execution/mid-ex-150?scope=mid", Http.Json("""{"reason":"case 77"}"""))).ExpectAsync(HttpStatusCode.Created);
        Assert.True(await worker.RunOnceAsync(maxBatches: 1, CancellationToken.None));
        var job = await JobAsync(server, jobId);
        Assert.Equal("queued", (string?)job["state"]);
        Assert.Null(job["leaseOwner"]);
        Assert.Equal(start.Add(DeletionWorker.HeldRecheck), (DateTimeOffset)job["nextAttemptAt"]!);
        Assert.Equal(
            "waiting: The resource_group 'mid' cannot be deleted: the execution 'mid-ex-150' is under legal hold (reason: case 77); clear the hold with DELETE /runledger/v1/holds/execution/mid-ex-150 before deleting.",
            (string?)job["error"]);
        Assert.Equal(BatchSize, (long)job["rowsRemoved"]!);
        Assert.Equal(10 + 200 + 200 - BatchSize, await Seed.CountOwnedAsync(database, "mid"));
        Assert.False(await worker.RunOnceAsync(CancellationToken.None));

        await (await server.Admin.DeleteAsync("/runledger/v1/holds/execution/mid-ex-150")).ExpectAsync(HttpStatusCode.NoContent);
        clock.Advance(DeletionWorker.HeldRecheck);
        Assert.True(await worker.RunOnceAsync(CancellationToken.None));
        job = await JobAsync(server, jobId);
        Assert.Equal("done", (string?)job["state"]);
        Assert.Equal(10 + 200 + 200 + 1, (long)job["rowsRemoved"]!);
        Assert.Equal(0, await Seed.CountOwnedAsync(database, "mid"));

        // The stop part-way is not a job's end; the hold is "postponed", never "failed".
        Assert.Equal(["postponed", "done"], outcomes.Seen);
    }

    private static long Sum(JsonNode? counts) => counts!.AsObject().Sum(p => (long)p.Value!);

    private static async Task<JsonNode> JobAsync(TestServer server, string jobId) =>
        await (await server.Admin.GetAsync($"/runledger/v1/deletions/{jobId}")).ExpectAsync(HttpStatusCode.OK);

    /// <summary>The outcomes the job-duration histogram records from this test's own calls (an AsyncLocal tells them apart from parallel tests).</summary>
    private sealed class DurationOutcomes : IDisposable
    {
        private static readonly AsyncLocal<DurationOutcomes?> Current = new();
        private readonly System.Diagnostics.Metrics.MeterListener _listener = new();
        private readonly List<string> _seen = [];

        public DurationOutcomes()
        {
            Current.Value = this;
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Name == "runledger.deletion.job_duration")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<double>((_, _, tags, _) =>
            {
                if (Current.Value is { } mine)
                {
                    foreach (var tag in tags)
                    {
                        if (tag.Key == "outcome")
                        {
                            lock (mine._seen)
                            {
                                mine._seen.Add((string)tag.Value!);
                            }
                        }
                    }
                }
            });
            _listener.Start();
        }

        public List<string> Seen
        {
            get
            {
                lock (_seen)
                {
                    return [.. _seen];
                }
            }
        }

        public void Dispose() => _listener.Dispose();
    }
}
