using System.Net;
using Runledger.Api.Tests.Support;
using Runledger.Storage;
using Runledger.Storage.Lifecycle;
using Runledger.Storage.Postgres;
using Runledger.Storage.Sqlite;

namespace Runledger.Api.Tests;

/// <summary>kill -9 during a large cascade: the restarted server finishes the job and nothing of the group remains.</summary>
public sealed class CrashSafetyTests
{
    private const int Rows = 100_000;

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task ServerKilledMidCascade_RestartFinishesJobNothingLeftNothingLost(Provider provider)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "runledger-tests", Guid.NewGuid().ToString("N"));
        var postgres = provider == Provider.Postgres ? await Postgres.CreateDatabaseAsync() : null;
        var settings = TestCredentials.Settings();
        settings["Storage:Provider"] = provider == Provider.Postgres ? "postgres" : "sqlite";
        settings["Storage:DataDir"] = dataDir;
        settings["Storage:Postgres"] = postgres;
        settings["Lifecycle:BatchSize"] = "200";
        settings["Lifecycle:LeaseSeconds"] = "2";
        settings["Lifecycle:PollSeconds"] = "0.2";
        IDatabase database = provider == Provider.Postgres ? PostgresDatabase.Create(postgres!) : null!;
        try
        {
            string jobId;
            long removedBeforeKill;
            await using (var first = ServerProcess.Start(settings))
            {
                await first.WaitReadyAsync();
                using var admin = first.NewClient();
                await (await admin.PostAsync("/v2/admin/resourceGroups", Http.Json("""{"resourceGroupId":"doomed"}"""))).ExpectAsync(HttpStatusCode.Accepted);
                await (await admin.PostAsync("/v2/admin/resourceGroups", Http.Json("""{"resourceGroupId":"kept"}"""))).ExpectAsync(HttpStatusCode.Accepted);
                database ??= new SqliteDatabase(Path.Combine(dataDir, "runledger.db"));
                await Seed.OwnedRowsAsync(database, "doomed", Rows);
                await Seed.OwnedRowsAsync(database, "kept", 1_000);

                var response = await admin.DeleteAsync("/v2/admin/resourceGroups/doomed");
                await response.ExpectAsync(HttpStatusCode.Accepted);
                jobId = response.JobId();

                // Kill as soon as the cascade is visibly under way.
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                while (true)
                {
                    var job = await (await admin.GetAsync($"/runledger/v1/deletions/{jobId}", timeout.Token)).ExpectAsync(HttpStatusCode.OK);
                    if ((long)job["rowsRemoved"]! > 0)
                    {
                        break;
                    }
                }

                await first.KillAsync();
            }

            // Mid-cascade, and the job's count is exactly what is gone: each batch commits with its progress.
            var afterKill = await new DeletionJobStore(database).GetAsync(jobId, CancellationToken.None);
            Assert.Equal(JobStates.Running, afterKill!.State);
            var left = await Seed.CountOwnedAsync(database, "doomed");
            var seeded = 10 + (2L * Rows);
            Assert.InRange(left, 1, seeded - 1);
            removedBeforeKill = afterKill.RowsRemoved;
            Assert.Equal(seeded - left, removedBeforeKill);

            await using (var second = ServerProcess.Start(settings))
            {
                await second.WaitReadyAsync();
                using var admin = second.NewClient();
                var done = await Jobs.WaitForJobAsync(admin, jobId, timeoutSeconds: 120);
                Assert.Equal(seeded + 1, (long)done["rowsRemoved"]!);
                Assert.True((long)done["attempts"]! >= 2);

                Assert.Equal(0, await Seed.CountOwnedAsync(database, "doomed"));
                Assert.Equal(10 + 1_000 + 1_000, await Seed.CountOwnedAsync(database, "kept"));
                await (await admin.GetAsync("/v2/admin/resourceGroups/doomed")).ExpectAsync(HttpStatusCode.NotFound);
                await (await admin.GetAsync("/v2/admin/resourceGroups/kept")).ExpectAsync(HttpStatusCode.OK);

                var audit = await (await admin.GetAsync($"/runledger/v1/audit?jobId={jobId}")).ExpectAsync(HttpStatusCode.OK);
                Assert.Equal(["deletion.requested", "deletion.finished"], audit["entries"]!.AsArray().Select(e => (string)e!["action"]!));
                await (await admin.PostAsync("/v2/admin/resourceGroups", Http.Json("""{"resourceGroupId":"doomed"}"""))).ExpectAsync(HttpStatusCode.Accepted);
            }
        }
        finally
        {
            if (database is IAsyncDisposable disposable)
            {
                await disposable.DisposeAsync();
            }

            if (postgres is not null)
            {
                await Postgres.DropDatabaseAsync(postgres);
            }

            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            if (Directory.Exists(dataDir))
            {
                Directory.Delete(dataDir, recursive: true);
            }
        }
    }
}
