using System.Net;
using Runledger.Api.Tests.Support;
using Runledger.Server.Hosting;
using Runledger.Server.Lifecycle;
using Runledger.Storage;

namespace Runledger.Api.Tests;

/// <summary>
/// The deletion worker and the WAL checkpoint run on threads of their own that the OS runs only
/// when no request thread wants the core (Linux SCHED_IDLE). What that buys reads during a cascade
/// is measured by the bench (reads-during-cascade); these tests hold the mechanism.
/// </summary>
public sealed class BackgroundThreadTests
{
    private const int SchedIdle = 5;

    [Fact]
    public async Task AnIdleLoop_RunsEveryContinuationOnOneLoweredThread()
    {
        var threads = new List<int>();
        var policies = new List<int>();
        void Note()
        {
            threads.Add(Environment.CurrentManagedThreadId);
            policies.Add(BackgroundThread.PolicyOf(0));
        }

        await BackgroundThread.RunAsync("rl-test", BackgroundPriority.Idle, async () =>
        {
            Note();
            await Task.Delay(20);
            Note();
            await Task.Yield();
            Note();
            // A task completed by a pool thread: the loop still carries on on its own thread.
            await Task.Run(() => Thread.SpinWait(1_000));
            Note();
        });

        Assert.Equal(4, threads.Count);
        Assert.Single(threads.Distinct());
        Assert.NotEqual(Environment.CurrentManagedThreadId, threads[0]);
        if (OperatingSystem.IsLinux())
        {
            Assert.All(policies, p => Assert.Equal(SchedIdle, p));
            Assert.NotEqual(SchedIdle, BackgroundThread.PolicyOf(0));
        }
    }

    [Fact]
    public async Task ALoopsFailure_ReachesWhoeverAwaitsIt()
    {
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => BackgroundThread.RunAsync("rl-test", BackgroundPriority.Idle, async () =>
        {
            await Task.Delay(1);
            throw new InvalidOperationException("the loop failed");
        }));
        Assert.Equal("the loop failed", failure.Message);
    }

    [Fact]
    public async Task ANormalLoop_HasAThreadOfItsOwn_AtNormalPriority()
    {
        var policies = new List<int>();
        var names = new List<string?>();
        await BackgroundThread.RunAsync("rl-test", BackgroundPriority.Normal, async () =>
        {
            await Task.Yield();
            policies.Add(BackgroundThread.PolicyOf(0));
            names.Add(Thread.CurrentThread.Name);
            await Task.Delay(5);
            names.Add(Thread.CurrentThread.Name);
        });

        Assert.Equal(["rl-test", "rl-test"], names);
        Assert.Equal(OperatingSystem.IsLinux() ? 0 : -1, Assert.Single(policies)); // SCHED_OTHER
    }

    [Theory]
    [InlineData(Provider.Sqlite, SchedIdle)]
    [InlineData(Provider.Postgres, 0)]
    public async Task TheWorkersThread_IsIdleOnSqlite_NormalOnPostgres(Provider provider, int policy)
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // SCHED_IDLE is a Linux scheduling policy; elsewhere the thread only gets the lowest priority.
        }

        await using var server = await TestServer.StartAsync(provider);
        var worker = server.Service<DeletionWorker>();
        for (var attempt = 0; worker.LoopThreadId is null && attempt < 50; attempt++)
        {
            await Task.Delay(100);
        }

        Assert.NotNull(worker.LoopThreadId);
        Assert.NotEqual(Environment.ProcessId, worker.LoopThreadId); // not the main thread: a thread of its own
        Assert.Equal("rl-deletion", File.ReadAllText($"/proc/self/task/{worker.LoopThreadId}/comm").Trim());
        Assert.Equal(policy, BackgroundThread.PolicyOf(worker.LoopThreadId!.Value));
    }

    [Fact]
    public async Task TheCheckpoint_HasAThreadOfItsOwn_AtNormalPriority()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        await using var server = await TestServer.StartAsync(Provider.Sqlite);
        var tids = await ThreadsNamedAsync("rl-checkpoint");
        Assert.NotEmpty(tids);
        Assert.All(tids, tid => Assert.Equal(0, BackgroundThread.PolicyOf(tid)));
    }

    [Theory]
    [InlineData("Normal")]
    [InlineData("Idle")]
    public async Task EitherWorkerPriority_CascadesADeletedGroup(string priority)
    {
        await using var server = await TestServer.StartAsync(Provider.Sqlite, new Dictionary<string, string?> { ["Lifecycle:WorkerPriority"] = priority, ["Lifecycle:BatchSize"] = "50" });
        await (await server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json("""{"resourceGroupId":"doomed"}"""))).ExpectAsync(HttpStatusCode.Accepted);
        var database = server.Service<IDatabase>();
        await Seed.OwnedRowsAsync(database, "doomed", 300);
        Assert.Equal(10 + 300 + 300, await Seed.CountOwnedAsync(database, "doomed"));

        var response = await server.Admin.DeleteAsync("/v2/admin/resourceGroups/doomed");
        await response.ExpectAsync(HttpStatusCode.Accepted);
        var job = await server.WaitForJobAsync(response.JobId());

        Assert.Equal(10 + 300 + 300 + 1, (long)job["rowsRemoved"]!);
        Assert.Equal(0, await Seed.CountOwnedAsync(database, "doomed"));
    }

    /// <summary>OS thread ids of this process whose name is <paramref name="name"/> (threads start with the host, so wait briefly).</summary>
    private static async Task<List<int>> ThreadsNamedAsync(string name)
    {
        for (var attempt = 0; ; attempt++)
        {
            var tids = Directory.GetDirectories("/proc/self/task")
                .Where(dir => File.Exists(Path.Combine(dir, "comm")) && File.ReadAllText(Path.Combine(dir, "comm")).Trim() == name)
                .Select(dir => int.Parse(Path.GetFileName(dir), System.Globalization.CultureInfo.InvariantCulture))
                .ToList();
            if (tids.Count > 0 || attempt >= 50)
            {
                return tids;
            }

            await Task.Delay(100);
        }
    }
}
