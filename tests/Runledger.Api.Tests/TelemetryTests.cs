using System.Net;
using Runledger.Api.Tests.Support;

namespace Runledger.Api.Tests;

public abstract class TelemetryTests(ServerFixture fixture)
{
    private TestServer Server => fixture.Server;

    [Fact]
    public async Task Metrics_PrometheusScrape_HasRequestRuntimeAndRunledgerInstruments()
    {
        using var client = Server.InGroup();
        var id = await client.StartExecutionAsync(await client.CreateConfigurationAsync(Templates.Quick));
        await client.WaitForStatusAsync(id, "COMPLETED");
        await (await client.PatchAsync("/v2/lm/metrics", Http.Json($$"""{"executionId":"{{id}}","metrics":[{"name":"loss","value":1},{"name":"loss","value":2}]}""", "application/merge-patch+json")))
            .ExpectAsync(HttpStatusCode.NoContent);
        var deleted = await client.DeleteAsync($"/v2/lm/metrics?executionId={id}");
        await deleted.ExpectAsync(HttpStatusCode.OK);
        await Server.WaitForJobAsync(deleted.JobId());

        // Anonymous, like a Prometheus scraper; the exporter caches a scrape briefly, so wait for one that has our points.
        using var scraper = Server.NewClient();
        var text = "";
        var deadline = TimeProvider.System.GetUtcNow().AddSeconds(30);
        bool Complete() => text.Contains("runledger_metrics_points_ingested", StringComparison.Ordinal) && text.Contains("runledger_deletion_rows_removed", StringComparison.Ordinal);
        while (!Complete() && TimeProvider.System.GetUtcNow() < deadline)
        {
            var response = await scraper.GetAsync("/metrics");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
            text = await response.Content.ReadAsStringAsync();
            if (!Complete())
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200));
            }
        }

        Assert.Contains("http_server_request_duration_seconds_bucket", text, StringComparison.Ordinal);
        Assert.Contains("dotnet_gc_collections", text, StringComparison.Ordinal);
        Assert.Matches(@"runledger_metrics_points_ingested(_total)?\{[^}]*\} [1-9]", text);
        Assert.Contains("runledger_deletion_open_jobs", text, StringComparison.Ordinal);
        Assert.Matches(@"runledger_deletion_rows_removed(_total)?\{[^}]*kind=""metrics""[^}]*\} [1-9]", text);
        Assert.Contains("runledger_deletion_job_duration_seconds_bucket", text, StringComparison.Ordinal);
        Assert.Contains("runledger_deletion_scheduled", text, StringComparison.Ordinal);
    }
}

public sealed class TelemetryTestsOnSqlite(SqliteRunnerServer fixture) : TelemetryTests(fixture), IClassFixture<SqliteRunnerServer>;

public sealed class TelemetryTestsOnPostgres(PostgresRunnerServer fixture) : TelemetryTests(fixture), IClassFixture<PostgresRunnerServer>;
