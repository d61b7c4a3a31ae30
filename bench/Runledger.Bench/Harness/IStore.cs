namespace Runledger.Bench.Harness;

/// <summary>
/// One fresh, private store for one server run. The bench seeds it directly with set-based SQL
/// (the API is what is measured, not how fast it can fill itself) and checks what is left.
/// </summary>
internal interface IStore : IAsyncDisposable
{
    /// <summary>Configuration keys that point the server at this store (<c>Storage:…</c>).</summary>
    IReadOnlyDictionary<string, string> ServerSettings { get; }

    /// <summary>Inserts <paramref name="count"/> COMPLETED executions <c>bench-1 … bench-N</c> in one statement.</summary>
    Task SeedCompletedExecutionsAsync(string resourceGroup, int count, CancellationToken cancellationToken);

    Task<long> CountExecutionsAsync(string resourceGroup, CancellationToken cancellationToken);

    /// <summary>Gives execution <paramref name="executionId"/> a live metric resource holding <paramref name="count"/> points, in one statement.</summary>
    Task SeedMetricPointsAsync(string resourceGroup, string executionId, int count, CancellationToken cancellationToken);

    /// <summary>Metric points left in the whole store (reclaimed ones are gone).</summary>
    Task<long> CountMetricPointsAsync(CancellationToken cancellationToken);
}

/// <summary>Creates a fresh <see cref="IStore"/> per server run, so no run sees another's rows.</summary>
internal interface IStoreProvider
{
    string Name { get; }

    /// <summary>The database engine's version, for the machine facts.</summary>
    Task<string> VersionAsync(CancellationToken cancellationToken);

    Task<IStore> CreateAsync(CancellationToken cancellationToken);
}

internal static class BenchIds
{
    /// <summary>The id the seeders give to execution number <paramref name="i"/> (1-based).</summary>
    public static string Execution(int i) => $"bench-{i}";

    /// <summary>All the seeders' executions share these ids of configuration, executable and scenario.</summary>
    public const string Configuration = "cfg-bench";
}
