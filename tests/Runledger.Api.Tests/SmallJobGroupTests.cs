using System.Net;
using Dapper;
using Microsoft.Extensions.Time.Testing;
using Runledger.Api.Tests.Support;
using Runledger.Server.Lifecycle;
using Runledger.Storage;

namespace Runledger.Api.Tests;

/// <summary>
/// The worker finishes small due jobs together, in one transaction (<see cref="DeletionWorker.RunSmallJobsAsync"/>):
/// each job's claim, rows, finish and audit entry are kept or dropped with the group, and the first
/// job that is too large, under legal hold or failing is left untouched for the one-job path. The
/// worker is triggered by hand on a fake clock; Lifecycle:BatchSize is 3, so an execution with 5 log
/// lines is not small.
/// </summary>
public sealed class SmallJobGroupTests
{
    private static readonly DateTimeOffset Start = DateTimeOffset.Parse("2026-11-30T08:00:00Z", System.Globalization.CultureInfo.InvariantCulture);

    private static async Task<(TestServer Server, FakeTimeProvider Clock, string Group, DeletionWorker Worker)> StartAsync(Provider provider, int smallJobGroup = 32)
    {
        var clock = new FakeTimeProvider(Start);
        var server = await TestServer.StartAsync(
            provider,
            new Dictionary<string, string?>
            {
                ["Lifecycle:WorkerEnabled"] = "false",
                ["Lifecycle:BatchSize"] = "3",
                ["Lifecycle:SmallJobGroup"] = smallJobGroup.ToString(System.Globalization.CultureInfo.InvariantCulture),
            },
            services => services.AddSingleton<TimeProvider>(clock));
        var group = "grp-" + Guid.NewGuid().ToString("N")[..8];
        await NewGroupAsync(server, group, 5);
        return (server, clock, group, server.Service<DeletionWorker>());
    }

    /// <summary>A resource group with executions ex-1 … ex-N, of which ex-1 has N log lines.</summary>
    private static async Task NewGroupAsync(TestServer server, string group, int executions)
    {
        await (await server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json($$"""{"resourceGroupId":"{{group}}"}"""))).ExpectAsync(HttpStatusCode.Accepted);
        await Seed.OwnedRowsAsync(server.Service<IDatabase>(), group, executions);
    }

    /// <summary>Schedules the deletion of an execution; a second later on the fake clock, so jobs are due in this order.</summary>
    private static async Task<string> DeleteAsync(TestServer server, FakeTimeProvider clock, string group, int execution)
    {
        clock.Advance(TimeSpan.FromSeconds(1));
        var request = new HttpRequestMessage(HttpMethod.Delete, $"/v2/lm/executions/{group}-ex-{execution}");
        request.Headers.Add("AI-Resource-Group", group);
        var response = await server.Admin.SendAsync(request);
        await response.ExpectAsync(HttpStatusCode.Accepted);
        return response.JobId();
    }

    private static async Task<(string State, long Attempts, long RowsRemoved, string? Error)> JobAsync(TestServer server, string jobId)
    {
        await using var connection = await server.Service<IDatabase>().OpenAsync(CancellationToken.None);
        return await connection.QuerySingleAsync<(string, long, long, string?)>(
            "SELECT state, attempts, rows_removed, error FROM deletion_jobs WHERE id = @jobId", new { jobId });
    }

    private static async Task<long> CountAsync(TestServer server, string sql, object args)
    {
        await using var connection = await server.Service<IDatabase>().OpenAsync(CancellationToken.None);
        return await connection.ExecuteScalarAsync<long>(sql, args);
    }

    private static Task<long> FinishedEntriesAsync(TestServer server, string jobId) =>
        CountAsync(server, "SELECT COUNT(*) FROM audit_log WHERE job_id = @jobId AND action = 'deletion.finished'", new { jobId });

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task SmallJobsFinishTogether_TheFirstLargeOneIsLeftUntouched_ForTheOneJobPath(Provider provider)
    {
        var (server, clock, group, worker) = await StartAsync(provider);
        await using var _ = server;
        var small1 = await DeleteAsync(server, clock, group, 2);
        var small2 = await DeleteAsync(server, clock, group, 3);
        var large = await DeleteAsync(server, clock, group, 1);
        var small3 = await DeleteAsync(server, clock, group, 4);
        clock.Advance(TimeSpan.FromDays(60)); // past any grace period

        Assert.Equal(2, await worker.RunSmallJobsAsync(CancellationToken.None));
        foreach (var job in new[] { small1, small2 })
        {
            Assert.Equal(("done", 1L, 1L, (string?)null), await JobAsync(server, job));
            Assert.Equal(1, await FinishedEntriesAsync(server, job));
        }

        Assert.Equal(0, await CountAsync(server, "SELECT COUNT(*) FROM executions WHERE id IN (@a, @b)", new { a = $"{group}-ex-2", b = $"{group}-ex-3" }));

        // The large job was claimed and partly deleted inside the group, then rolled back to its savepoint:
        // not even its claim is left.
        Assert.Equal(("queued", 0L, 0L, (string?)null), await JobAsync(server, large));
        Assert.Equal(5, await CountAsync(server, "SELECT COUNT(*) FROM execution_logs WHERE execution_id = @id", new { id = $"{group}-ex-1" }));
        Assert.Equal(("queued", 0L, 0L, (string?)null), await JobAsync(server, small3));

        // The one-job path takes it next, in batches of 3.
        Assert.True(await worker.RunOnceAsync(CancellationToken.None));
        Assert.Equal(("done", 1L, 6L, (string?)null), await JobAsync(server, large));
        Assert.Equal(0, await CountAsync(server, "SELECT COUNT(*) FROM execution_logs WHERE execution_id = @id", new { id = $"{group}-ex-1" }));

        Assert.Equal(1, await worker.RunSmallJobsAsync(CancellationToken.None));
        Assert.Equal(("done", 1L, 1L, (string?)null), await JobAsync(server, small3));
        Assert.Equal(0, await worker.RunSmallJobsAsync(CancellationToken.None));
        Assert.False(await worker.RunOnceAsync(CancellationToken.None));

        // One finished entry per job, in a chain that still verifies.
        foreach (var job in new[] { large, small3 })
        {
            Assert.Equal(1, await FinishedEntriesAsync(server, job));
        }

        var verify = await (await server.Admin.GetAsync("/runledger/v1/audit/verify")).ExpectAsync(HttpStatusCode.OK);
        Assert.True((bool)verify["ok"]!, verify.ToJsonString());
        Assert.Equal(1, await CountAsync(server, "SELECT COUNT(*) FROM executions WHERE resource_group = @group", new { group }));
    }

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task GroupsOfTwo_FinishTwoAtATime_GroupsOfOne_LeaveEveryJobToTheOneJobPath(Provider provider)
    {
        var (server, clock, group, worker) = await StartAsync(provider, smallJobGroup: 2);
        await using var _ = server;
        var jobs = new List<string>();
        foreach (var execution in new[] { 2, 3, 4 })
        {
            jobs.Add(await DeleteAsync(server, clock, group, execution));
        }

        clock.Advance(TimeSpan.FromDays(60));
        Assert.Equal(2, await worker.RunSmallJobsAsync(CancellationToken.None));
        Assert.Equal(("queued", 0L, 0L, (string?)null), await JobAsync(server, jobs[2]));
        Assert.Equal(1, await worker.RunSmallJobsAsync(CancellationToken.None));
        Assert.Equal(("done", 1L, 1L, (string?)null), await JobAsync(server, jobs[2]));

        var (single, singleClock, singleGroup, singleWorker) = await StartAsync(provider, smallJobGroup: 1);
        await using var __ = single;
        var job = await DeleteAsync(single, singleClock, singleGroup, 2);
        singleClock.Advance(TimeSpan.FromDays(60));
        Assert.Equal(0, await singleWorker.RunSmallJobsAsync(CancellationToken.None));
        Assert.Equal(("queued", 0L, 0L, (string?)null), await JobAsync(single, job));
        Assert.True(await singleWorker.RunOnceAsync(CancellationToken.None));
        Assert.Equal(("done", 1L, 1L, (string?)null), await JobAsync(single, job));
    }

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task AHeldJobStopsTheGroup_TheOneJobPathPostponesIt_TheRestFinish(Provider provider)
    {
        var (server, clock, group, worker) = await StartAsync(provider);
        await using var _ = server;
        var heldGroup = group + "-h";
        await NewGroupAsync(server, heldGroup, 2);
        var held = await DeleteAsync(server, clock, heldGroup, 2);
        var free = await DeleteAsync(server, clock, group, 3);

        // Set after the job was scheduled: the worker must find it.
        await (await server.Admin.PutAsync($"/runledger/v1/holds/resource_group/{heldGroup}", Http.Json("""{"reason":"case 9"}"""))).ExpectAsync(HttpStatusCode.Created);
        clock.Advance(TimeSpan.FromDays(60));

        Assert.Equal(0, await worker.RunSmallJobsAsync(CancellationToken.None));
        Assert.Equal(("queued", 0L, 0L, (string?)null), await JobAsync(server, held));

        Assert.True(await worker.RunOnceAsync(CancellationToken.None));
        var (state, _, removed, error) = await JobAsync(server, held);
        Assert.Equal(("queued", 0L), (state, removed));
        Assert.StartsWith("waiting: ", error, StringComparison.Ordinal);

        Assert.Equal(1, await worker.RunSmallJobsAsync(CancellationToken.None));
        Assert.Equal(("done", 1L, 1L, (string?)null), await JobAsync(server, free));
        Assert.Equal(1, await CountAsync(server, "SELECT COUNT(*) FROM executions WHERE id = @id", new { id = $"{heldGroup}-ex-2" }));
        Assert.Equal(0, await FinishedEntriesAsync(server, held));
    }

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task AFailingJob_LeavesTheGroupUnchanged_TheOneJobPathRecordsTheFailure(Provider provider)
    {
        var (server, clock, group, worker) = await StartAsync(provider);
        await using var _ = server;
        var job = await DeleteAsync(server, clock, group, 2);
        clock.Advance(TimeSpan.FromDays(60));
        await using (var connection = await server.Service<IDatabase>().OpenAsync(CancellationToken.None))
        {
            await connection.ExecuteAsync("ALTER TABLE execution_logs RENAME TO execution_logs_away");
        }

        Assert.Equal(0, await worker.RunSmallJobsAsync(CancellationToken.None));
        Assert.Equal(("queued", 0L, 0L, (string?)null), await JobAsync(server, job));
        Assert.Equal(1, await CountAsync(server, "SELECT COUNT(*) FROM executions WHERE id = @id", new { id = $"{group}-ex-2" }));

        Assert.True(await worker.RunOnceAsync(CancellationToken.None));
        var (state, attempts, _, error) = await JobAsync(server, job);
        Assert.Equal(("queued", 1L), (state, attempts));
        Assert.Contains("execution_logs", error, StringComparison.Ordinal);
        Assert.Equal(1, await CountAsync(server, "SELECT COUNT(*) FROM executions WHERE id = @id", new { id = $"{group}-ex-2" }));
    }

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task AJobFailingAfterOthersInTheGroup_TheOthersCommit_ItsOwnPartialDeletesRollBack(Provider provider)
    {
        var (server, clock, group, worker) = await StartAsync(provider);
        await using var _ = server;

        // A small job with child rows: an execution with 2 log lines (the batch is 3).
        var logged = group + "-l";
        await NewGroupAsync(server, logged, 2);
        var small = await DeleteAsync(server, clock, logged, 1);

        // Then a project whose cascade removes its records and fails at the next child.
        var project = await server.Datadog.NewProjectAsync();
        var dataset = await server.Datadog.NewDatasetAsync(project);
        await server.Datadog.AppendAsync(project, dataset, 2);
        clock.Advance(TimeSpan.FromSeconds(1));
        var response = await server.Datadog.PostAsync($"{LlmObs.V1}/projects/delete", LlmObs.Delete("projects", "project_ids", project));
        await response.ExpectAsync(HttpStatusCode.NoContent);
        var failing = response.JobId();
        clock.Advance(TimeSpan.FromDays(60));
        await using (var connection = await server.Service<IDatabase>().OpenAsync(CancellationToken.None))
        {
            await connection.ExecuteAsync("ALTER TABLE llm_dataset_versions RENAME TO llm_dataset_versions_away");
        }

        Assert.Equal(1, await worker.RunSmallJobsAsync(CancellationToken.None));
        Assert.Equal(("done", 1L, 3L, (string?)null), await JobAsync(server, small));
        Assert.Equal(0, await CountAsync(server, "SELECT COUNT(*) FROM execution_logs WHERE resource_group = @logged", new { logged }));
        Assert.Equal(1, await FinishedEntriesAsync(server, small));
        Assert.Equal(("queued", 0L, 0L, (string?)null), await JobAsync(server, failing));
        Assert.Equal(2, await CountAsync(server, "SELECT COUNT(*) FROM llm_records WHERE dataset_id = @dataset", new { dataset }));

        Assert.True(await worker.RunOnceAsync(CancellationToken.None));
        var (state, attempts, _, error) = await JobAsync(server, failing);
        Assert.Equal(("queued", 1L), (state, attempts));
        Assert.Contains("llm_dataset_versions", error, StringComparison.Ordinal);
        Assert.Equal(2, await CountAsync(server, "SELECT COUNT(*) FROM llm_records WHERE dataset_id = @dataset", new { dataset }));
        Assert.Equal(0, await FinishedEntriesAsync(server, failing));
    }
}
