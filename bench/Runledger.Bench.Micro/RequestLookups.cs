using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging.Abstractions;
using Runledger.Storage;
using Runledger.Storage.Credentials;
using Runledger.Storage.Migrations;
using Runledger.Storage.ResourceGroups;
using Runledger.Storage.Sqlite;

namespace Runledger.Bench.Micro;

/// <summary>
/// The two look-ups every authenticated <c>/v2/lm</c> request makes before its own work — the
/// bearer token's credential and the <c>AI-Resource-Group</c>'s visibility — on a real SQLite file:
/// answered from <see cref="LookupCache"/> (<c>Remembered</c>) and from the database (the cache
/// forgotten before each call, as after a revocation).
/// </summary>
[MemoryDiagnoser]
public class RequestLookups : IDisposable
{
    private const string Hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    private string _directory = "";
    private SqliteDatabase? _database;
    private LookupCache _cache = new();
    private CredentialStore? _credentials;
    private ResourceGroupStore? _groups;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _directory = Directory.CreateTempSubdirectory("runledger-micro-").FullName;
        _database = new SqliteDatabase(Path.Combine(_directory, "runledger.db"));
        await new MigrationRunner(_database, TimeProvider.System, NullLogger<MigrationRunner>.Instance).ApplyAsync(CancellationToken.None);
        _cache = new LookupCache();
        _credentials = new CredentialStore(_database, _cache);
        _groups = new ResourceGroupStore(_database, _cache);
        await _groups.CreateAsync(new ResourceGroupRow { Id = "default", TenantId = "default", Labels = "[]", Status = "PROVISIONED", CreatedAt = 1, ModifiedAt = 1 }, CancellationToken.None);
        await _credentials.UpsertAsync(
            new CredentialRow { Id = "bench", Kind = CredentialKinds.BearerToken, Name = "bench", LookupHash = Hash, Scopes = "admin", OrgId = "default", CreatedAt = 1 },
            CancellationToken.None);
        if (await _credentials.FindByLookupHashAsync(CredentialKinds.BearerToken, Hash, CancellationToken.None) is null
            || !await _groups.IsVisibleAsync("default", CancellationToken.None))
        {
            throw new InvalidOperationException("The seeded credential or the default resource group was not found.");
        }
    }

    [Benchmark]
    public Task<CredentialRow?> CredentialRemembered() => _credentials!.FindByLookupHashAsync(CredentialKinds.BearerToken, Hash, CancellationToken.None);

    [Benchmark]
    public Task<CredentialRow?> CredentialFromDatabase()
    {
        _cache.Invalidate();
        return _credentials!.FindByLookupHashAsync(CredentialKinds.BearerToken, Hash, CancellationToken.None);
    }

    [Benchmark]
    public Task<bool> ResourceGroupRemembered() => _groups!.IsVisibleAsync("default", CancellationToken.None);

    [Benchmark]
    public Task<bool> ResourceGroupFromDatabase()
    {
        _cache.Invalidate();
        return _groups!.IsVisibleAsync("default", CancellationToken.None);
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _database?.Dispose();
        _database = null;
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }

        GC.SuppressFinalize(this);
    }
}
