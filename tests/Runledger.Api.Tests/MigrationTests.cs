using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using Runledger.Api.Tests.Support;
using Runledger.Storage.Migrations;

namespace Runledger.Api.Tests;

/// <summary>The real migrations on an empty store: applied once, idempotent, safe when several nodes start together.</summary>
public sealed class MigrationTests
{
    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task EmptyStore_AppliesAllThenNothingOnRestart(Provider provider)
    {
        await using var store = await EmptyStore.CreateAsync(provider);
        var runner = new MigrationRunner(store.Database, TimeProvider.System, NullLogger<MigrationRunner>.Instance);
        Assert.Equal(-1, await runner.CurrentVersionAsync(CancellationToken.None));

        var applied = await runner.ApplyAsync(CancellationToken.None);
        Assert.Equal(store.Database.Migrations.Count, applied);
        Assert.Equal(runner.LatestVersion, await runner.CurrentVersionAsync(CancellationToken.None));
        Assert.Equal(0, await runner.ApplyAsync(CancellationToken.None));

        await using var connection = await store.Database.OpenAsync(CancellationToken.None);
        foreach (var table in new[] { "resource_groups", "credentials", "deletion_jobs", "audit_log", "configurations", "executions", "execution_logs", "llm_projects" })
        {
            Assert.Equal(0, await connection.ExecuteScalarAsync<long>($"SELECT COUNT(*) FROM {table}"));
        }

        var versions = (await connection.QueryAsync<long>("SELECT version FROM schema_migrations ORDER BY version")).ToList();
        Assert.Equal(store.Database.Migrations.Select(m => (long)m.Version), versions);
    }

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task SeveralNodesAtOnce_EachMigrationAppliedExactlyOnce(Provider provider)
    {
        await using var store = await EmptyStore.CreateAsync(provider);
        var runners = Enumerable.Range(0, 4).Select(_ => new MigrationRunner(store.Reopen(), TimeProvider.System, NullLogger<MigrationRunner>.Instance)).ToList();
        var applied = await Task.WhenAll(runners.Select(r => Task.Run(() => r.ApplyAsync(CancellationToken.None))));
        Assert.Equal(store.Database.Migrations.Count, applied.Sum());
    }
}
