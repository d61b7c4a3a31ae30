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
                var plan = await connection.QueryAsync<(long Id, long Parent, long NotUsed, string Detail)>(
                    $"EXPLAIN QUERY PLAN SELECT 1 FROM {child.Table} WHERE {child.Where}", new { TargetId = "t", Scope = "s", JobId = "j", Cutoff = 0L });
                scans.AddRange(plan.Where(step => step.Detail.StartsWith("SCAN ", StringComparison.Ordinal)).Select(step => $"{kind}/{child.Name}: {step.Detail}"));
            }
        }

        Assert.Empty(scans);
    }
}
