using Dapper;
using Runledger.Api.Tests.Support;
using Runledger.Server.Lifecycle;
using Runledger.Storage;

namespace Runledger.Api.Tests;

/// <summary>
/// Every batch of every cascade runs its child's WHERE again; on SQLite (no statistics) each must be
/// answered from an index, never by reading a whole table, or cascades slow down with the size of
/// everything else in the store.
/// </summary>
public sealed class CascadePlanTests
{
    [Fact]
    public async Task EveryCascadeChild_IsFoundThroughAnIndex_OnSqlite()
    {
        await using var server = await TestServer.StartAsync(Provider.Sqlite);
        var registry = server.App.Services.GetRequiredService<CascadeRegistry>();
        var database = server.App.Services.GetRequiredService<IDatabase>();
        await using var connection = await database.OpenAsync(CancellationToken.None);

        var scans = new List<string>();
        foreach (var kind in registry.KindNames)
        {
            foreach (var child in registry.ChildrenOf(kind))
            {
                var plan = await PlanAsync(connection, $"SELECT 1 FROM {child.Table} WHERE {child.Where}");
                scans.AddRange(plan.Where(step => step.StartsWith("SCAN ", StringComparison.Ordinal)).Select(step => $"{kind}/{child.Name}: {step}"));
            }
        }

        Assert.Empty(scans);
    }

    /// <summary>
    /// A child's <c>PrefixWalk</c> takes one step of its owners' index per key prefix: on SQLite it
    /// must read that index in order from the cursor, neither scanning a table nor sorting the owners.
    /// </summary>
    [Fact]
    public async Task EveryPrefixWalk_StepsThroughAnIndexInOrder_OnSqlite()
    {
        await using var server = await TestServer.StartAsync(Provider.Sqlite);
        var registry = server.App.Services.GetRequiredService<CascadeRegistry>();
        var database = server.App.Services.GetRequiredService<IDatabase>();
        await using var connection = await database.OpenAsync(CancellationToken.None);

        var walked = registry.KindNames.SelectMany(registry.ChildrenOf).Where(c => c.PrefixWalk is not null).ToList();
        var wrong = new List<string>();
        foreach (var child in walked)
        {
            var plan = await PlanAsync(connection, child.PrefixWalk!);
            wrong.AddRange(plan
                .Where(step => step.StartsWith("SCAN ", StringComparison.Ordinal) || step.Contains("TEMP B-TREE", StringComparison.Ordinal) || !step.Contains("INDEX", StringComparison.Ordinal))
                .Select(step => $"{child.Kind}/{child.Name}: {step}"));
        }

        // The project's experiment events and a resource group's metric points walk their owners.
        Assert.Equal(
            ["llm_project/llm_experiment_metrics", "llm_project/llm_experiment_spans", "resource_group/metric_points"],
            walked.Select(c => $"{c.Kind}/{c.Name}").Order(StringComparer.Ordinal));
        Assert.Empty(wrong);
    }

    /// <summary>
    /// A keyed child whose <c>RangeWhere</c> is "" is removed one key prefix at a time on SQLite,
    /// with its where tested on the prefix only: that where must not name any later key column (as
    /// retention's <c>ts &lt; @Cutoff</c> does), or rows it excludes would be deleted with the prefix.
    /// </summary>
    [Fact]
    public async Task KeyedChildrenThatSkipTheRowTest_SelectByTheirFirstKeyColumnOnly()
    {
        await using var server = await TestServer.StartAsync(Provider.Sqlite);
        var registry = server.App.Services.GetRequiredService<CascadeRegistry>();

        // The column unqualified (a subquery's "m.ts" is another table's).
        static bool Names(string where, string column) => System.Text.RegularExpressions.Regex.IsMatch(where, $@"(?<![\w.]){column}\b");

        var keyed = registry.KindNames.SelectMany(registry.ChildrenOf).Where(c => c.KeyColumns is { Count: >= 2 } && c.RangeWhere == "").ToList();
        var wrong = keyed
            .Where(c => c.KeyColumns!.Skip(1).Any(column => Names(c.Where, column)))
            .Select(c => $"{c.Kind}/{c.Name}: {c.Where}");

        Assert.NotEmpty(keyed);
        Assert.Empty(wrong);

        // The check itself finds retention's old points, which keep the per-row test of the cutoff.
        var expired = registry.ChildrenOf(Runledger.Server.AiApi.AiApiRetention.ExpiredPointsKind).Single(c => c.Name == "metric_points");
        Assert.True(Names(expired.Where, "ts"));
        Assert.Equal("ts < @Cutoff", expired.RangeWhere);
    }

    /// <summary>The detail of each step of SQLite's plan for <paramref name="sql"/>, with every parameter a cascade statement may name.</summary>
    private static async Task<List<string>> PlanAsync(System.Data.Common.DbConnection connection, string sql) =>
        (await connection.QueryAsync<(long Id, long Parent, long NotUsed, string Detail)>(
            $"EXPLAIN QUERY PLAN {sql}", new { TargetId = "t", Scope = "s", JobId = "j", Cutoff = 0L, WalkAfter = "", WalkLimit = 1000 }))
        .Select(step => step.Detail).ToList();
}
