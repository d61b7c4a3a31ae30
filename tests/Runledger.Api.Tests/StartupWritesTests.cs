using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using Runledger.Api.Tests.Support;
using Runledger.Storage;
using Runledger.Storage.Credentials;
using Runledger.Storage.Migrations;
using Runledger.Storage.ResourceGroups;

namespace Runledger.Api.Tests;

/// <summary>
/// What every node writes when it starts — the JWT signing key, the credentials its environment
/// defines, the <c>default</c> resource group — written by several at the same moment, as two nodes
/// of one PostgreSQL starting together do: none fails, and all end with the same key and one row each.
/// </summary>
public sealed class StartupWritesTests
{
    private static async Task<EmptyStore> MigratedStoreAsync(Provider provider)
    {
        var store = await EmptyStore.CreateAsync(provider);
        await new MigrationRunner(store.Database, TimeProvider.System, NullLogger<MigrationRunner>.Instance).ApplyAsync(CancellationToken.None);
        return store;
    }

    /// <summary>Eight callers released together (each numbered), as nodes starting at the same moment.</summary>
    private static async Task<T[]> AtOnceAsync<T>(Func<int, Task<T>> call)
    {
        using var start = new SemaphoreSlim(0);
        var callers = Enumerable.Range(0, 8).Select(async n =>
        {
            await start.WaitAsync();
            return await call(n);
        }).ToList();
        start.Release(callers.Count);
        return await Task.WhenAll(callers);
    }

    private static ResourceGroupRow Group(string id) =>
        new() { Id = id, TenantId = "default", Labels = "[]", Status = "PROVISIONED", CreatedAt = 1, ModifiedAt = 1 };

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task CreatorsAtOnce_OneCreates_TheOthersAreToldItExists(Provider provider)
    {
        await using var store = await MigratedStoreAsync(provider);

        // Each creator a store of its own, as each node has.
        var outcomes = await AtOnceAsync(_ => new ResourceGroupStore(store.Database, new LookupCache()).CreateAsync(Group("team-a"), CancellationToken.None));

        Assert.Equal(1, outcomes.Count(o => o == CreateOutcome.Created));
        Assert.Equal(7, outcomes.Count(o => o == CreateOutcome.AlreadyExists));
        await using var connection = await store.Database.OpenAsync(CancellationToken.None);
        Assert.Equal(1L, await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM resource_groups WHERE id = 'team-a'"));

        // A group being deleted is not created again until its cascade is done.
        await connection.ExecuteAsync("UPDATE resource_groups SET deleting_job_id = 'job-1' WHERE id = 'team-a'");
        var again = new ResourceGroupStore(store.Database, new LookupCache());
        Assert.Equal(CreateOutcome.BeingDeleted, await again.CreateAsync(Group("team-a"), CancellationToken.None));
        Assert.Equal(CreateOutcome.Created, await again.CreateAsync(Group("team-b"), CancellationToken.None));
    }

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task SigningKeyAndCredentials_WrittenAtOnce_EveryoneGetsTheSameKey_AndOneRowEach(Provider provider)
    {
        await using var store = await MigratedStoreAsync(provider);

        var keys = await AtOnceAsync(async n =>
        {
            var credentials = new CredentialStore(store.Database, new LookupCache());
            var key = await credentials.GetOrCreateSigningKeyAsync(() => $"key-of-node-{n}", 1, CancellationToken.None);
            await credentials.UpsertAsync(
                new CredentialRow { Id = "env-admin-token", Kind = CredentialKinds.BearerToken, Name = $"node {n}", Scopes = "admin", OrgId = "default", CreatedAt = n, LookupHash = "same-hash" },
                CancellationToken.None);
            return key;
        });

        Assert.Single(keys.Distinct());
        await using var connection = await store.Database.OpenAsync(CancellationToken.None);
        Assert.Equal(keys[0], await connection.ExecuteScalarAsync<string>("SELECT key_material FROM signing_keys WHERE id = 'jwt'"));
        Assert.Equal(1L, await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM credentials WHERE id = 'env-admin-token'"));

        // An upsert replaces every column of the row it finds.
        await new CredentialStore(store.Database, new LookupCache()).UpsertAsync(
            new CredentialRow { Id = "env-admin-token", Kind = CredentialKinds.BearerToken, Name = "renamed", Scopes = "read", OrgId = "default", CreatedAt = 99, LookupHash = "new-hash", RevokedAt = 100 },
            CancellationToken.None);
        var row = await connection.QuerySingleAsync<(string Name, string Scopes, long CreatedAt, string LookupHash, long RevokedAt)>(
            "SELECT name, scopes, created_at, lookup_hash, revoked_at FROM credentials WHERE id = 'env-admin-token'");
        Assert.Equal(("renamed", "read", 99L, "new-hash", 100L), row);
    }
}
