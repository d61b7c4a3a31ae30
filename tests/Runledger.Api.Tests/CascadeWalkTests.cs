using System.Globalization;
using System.Net;
using Dapper;
using Runledger.Api.Tests.Support;
using Runledger.Server.Lifecycle;
using Runledger.Server.LlmObs.Experiments;
using Runledger.Storage;

namespace Runledger.Api.Tests;

/// <summary>
/// Cascades over many owners (a project's experiments) take each next key prefix from a walk of the
/// owners' own index (<see cref="KeyPrefixWalk"/>). The walk only speeds the way through: batches
/// that cross owners, owners without rows, pages of owners and an owner added behind the walk all
/// still end with every row of the target gone and nothing else touched.
/// </summary>
public sealed class CascadeWalkTests
{
    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task ProjectDelete_BatchesCrossExperiments_EmptyOnesBetween_EveryEventGoneOtherProjectKept(Provider provider)
    {
        // 7 rows a batch: most batches end inside one experiment and start inside the next.
        await using var server = await TestServer.StartAsync(provider, new Dictionary<string, string?> { ["Lifecycle:BatchSize"] = "7" });
        var client = server.Datadog;
        var project = await ExperimentTests.ProjectAsync(client);
        var other = await ExperimentTests.ProjectAsync(client);
        var spans = new[] { 4, 0, 3, 0, 10, 1 };
        foreach (var (count, i) in spans.Select((count, i) => (count, i)))
        {
            var experiment = await ExperimentTests.ExperimentAsync(client, project, $"walk-{i}");
            if (count > 0)
            {
                await (await client.PostAsync($"/api/v2/llm-obs/v1/experiments/{experiment}/events", EventTests.Push(project, count))).ExpectAsync(HttpStatusCode.Accepted);
            }
        }

        var kept = await ExperimentTests.ExperimentAsync(client, other, "kept");
        await (await client.PostAsync($"/api/v2/llm-obs/v1/experiments/{kept}/events", EventTests.Push(other, 5))).ExpectAsync(HttpStatusCode.Accepted);

        var ids = await ExperimentIdsAsync(server, project);
        var otherIds = await ExperimentIdsAsync(server, other);
        Assert.Equal(spans.Length, ids.Count);
        var response = await client.PostAsync("/api/v2/llm-obs/v1/projects/delete", LlmObs.Delete("projects", "project_ids", project));
        await response.ExpectAsync(HttpStatusCode.NoContent);
        var job = await server.WaitForJobAsync(response.JobId());

        var events = spans.Sum();
        Http.AssertJson(
            $$"""{"llm_experiment_metrics":{{events}},"llm_experiment_spans":{{events}},"llm_experiments":{{spans.Length}},"llm_records":0,"llm_dataset_versions":0,"llm_datasets":0,"llm_project":1}""",
            job["removed"]!);
        Assert.Equal((0L, 0L, 0L), await CountsAsync(server, ids));
        Assert.Equal((1L, 5L, 5L), await CountsAsync(server, otherIds));
    }

    /// <summary>
    /// The dialect's batches themselves, with pages of two owners: the walk passes the owners in
    /// order; an owner added behind it with rows (here straight into the store) is found by the last
    /// look-up with the where, so the batch that ends the child is one that found nothing.
    /// </summary>
    [Fact]
    public async Task Walk_PagesOfTwoOwners_AnOwnerAddedBehindTheWalk_IsStillEmptiedBeforeTheChildEnds()
    {
        await using var server = await TestServer.StartAsync(Provider.Sqlite, new Dictionary<string, string?> { ["Lifecycle:WorkerEnabled"] = "false" });
        var database = server.Service<IDatabase>();
        var child = server.Service<CascadeRegistry>().ChildrenOf(ExperimentCascade.ProjectKind).Single(c => c.Name == "llm_experiment_spans");
        Assert.NotNull(child.PrefixWalk);
        await using var connection = await database.OpenAsync(CancellationToken.None);
        foreach (var (experiment, project, rows) in new[] { ("e-2", "p", 3), ("e-3", "p", 0), ("e-4", "p", 5), ("e-5", "p", 2), ("e-6", "p", 4), ("x-1", "q", 3) })
        {
            await SeedExperimentAsync(connection, experiment, project, rows);
        }

        var walk = new KeyPrefixWalk(child.PrefixWalk!, pageSize: 2);
        var parameters = new DynamicParameters(new { TargetId = "p", Scope = "default", JobId = "j", Cutoff = (long?)null });

        // 4 rows a batch: e-2 whole and one of e-4, then three more of e-4, ...
        Assert.Equal(4, await BatchAsync(4));
        Assert.Equal(["e-4", "e-5", "e-6"], await LeftAsync());
        Assert.Equal(4, await BatchAsync(4));
        Assert.Equal(["e-5", "e-6"], await LeftAsync());
        Assert.Equal(4, await BatchAsync(4));
        Assert.Equal(["e-6"], await LeftAsync());

        // An owner sorted before everything the walk has passed, with rows of its own.
        await SeedExperimentAsync(connection, "e-1", "p", 7);
        Assert.Equal(4, await BatchAsync(4));
        Assert.Equal(["e-1"], await LeftAsync());
        Assert.Equal(4, await BatchAsync(4));
        Assert.Equal(1, await BatchAsync(4));
        Assert.Equal(0, await BatchAsync(4));
        Assert.Empty(await LeftAsync());
        Assert.Equal(3, await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM llm_experiment_spans WHERE experiment_id = 'x-1'"));

        async Task<int> BatchAsync(int limit)
        {
            using var turn = await database.EnterWriteQueueAsync(CancellationToken.None);
            await using var transaction = await database.BeginWriteAsync(connection, CancellationToken.None);
            var removed = await database.Dialect.DeleteBatchAsync(
                connection, transaction, child.Table, child.Where, child.KeyColumns, child.RangeWhere, walk, parameters, limit, CancellationToken.None);
            await transaction.CommitAsync();
            return removed;
        }

        async Task<List<string>> LeftAsync() =>
            (await connection.QueryAsync<string>("SELECT DISTINCT experiment_id FROM llm_experiment_spans WHERE project_id = 'p' ORDER BY experiment_id")).ToList();
    }

    private static async Task SeedExperimentAsync(System.Data.Common.DbConnection connection, string experiment, string project, int spans)
    {
        await connection.ExecuteAsync(
            """
            INSERT INTO llm_experiments (id, org_id, project_id, name, experiment, status, author_id, created_at, updated_at)
            VALUES (@experiment, 'default', @project, @experiment, @experiment, 'completed', 'test', 0, 0)
            """,
            new { experiment, project });
        for (var i = 0; i < spans; i++)
        {
            await connection.ExecuteAsync(
                """
                INSERT INTO llm_experiment_spans (experiment_id, seq, id, span_id, trace_id, project_id, dataset_id, name, start_ns, duration, status, tags, meta)
                VALUES (@experiment, @i, @id, @id, 'trace', @project, 'dataset-1', 'llm_call', 0, 1, 'ok', '[]', NULL)
                """,
                new { experiment, project, i, id = $"{experiment}-{i.ToString(CultureInfo.InvariantCulture)}" });
        }
    }

    private static async Task<List<string>> ExperimentIdsAsync(TestServer server, string project)
    {
        await using var connection = await server.Service<IDatabase>().OpenAsync(CancellationToken.None);
        return (await connection.QueryAsync<string>("SELECT id FROM llm_experiments WHERE project_id = @project", new { project })).ToList();
    }

    private static async Task<(long Experiments, long Spans, long Metrics)> CountsAsync(TestServer server, List<string> ids)
    {
        await using var connection = await server.Service<IDatabase>().OpenAsync(CancellationToken.None);
        var counts = (0L, 0L, 0L);
        foreach (var id in ids)
        {
            var (experiments, spans, metrics) = await connection.QuerySingleAsync<(long, long, long)>(
                """
                SELECT (SELECT COUNT(*) FROM llm_experiments WHERE id = @id),
                       (SELECT COUNT(*) FROM llm_experiment_spans WHERE experiment_id = @id),
                       (SELECT COUNT(*) FROM llm_experiment_metrics WHERE experiment_id = @id)
                """,
                new { id });
            counts = (counts.Item1 + experiments, counts.Item2 + spans, counts.Item3 + metrics);
        }

        return counts;
    }
}
