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

    /// <summary>
    /// Adds experiments <c>{idPrefix}1 … {idPrefix}N</c> to an existing project (in its organisation),
    /// each with <paramref name="eventsPerExperiment"/> events — half spans, half evaluation
    /// metrics — in a few set-based statements.
    /// </summary>
    Task SeedExperimentsAsync(string projectId, string idPrefix, int experiments, int eventsPerExperiment, CancellationToken cancellationToken);

    /// <summary>The project's experiments (live and being deleted), its own row, and the experiment events left in the whole store.</summary>
    Task<ExperimentCounts> CountExperimentsAsync(string projectId, CancellationToken cancellationToken);

    /// <summary>
    /// Fills an existing, empty dataset (at version 0) with records <c>rec-1 … rec-N</c> as one
    /// append through the API would: version 1 with its <c>llm_dataset_versions</c> row, every record
    /// live from version 1 (<see cref="BenchRecords"/> gives each row's values). SQLite: one prepared
    /// single-row INSERT re-bound per row in one transaction; PostgreSQL: binary COPY.
    /// </summary>
    Task SeedRecordsAsync(string datasetId, int records, CancellationToken cancellationToken);
}

/// <summary>
/// The rows the records seeders write, exactly as the server stores an append of
/// <c>{"id":"rec-i","input":{"question":"What is i squared?"},"expected_output":"i²"}</c>:
/// input and expected output as JSON text, <c>input_hash</c> the SHA-256 of the input's canonical
/// JSON (here the text itself: one key, no whitespace), so deduplication and lists see them.
/// </summary>
internal static class BenchRecords
{
    /// <summary>created_at of record i is this + i, so the newest first list starts at rec-N.</summary>
    public const long CreatedBase = 1_700_000_000_000;

    public static string Id(int i) => $"rec-{i}";

    public static string Input(int i) => $$"""{"question":"What is {{i}} squared?"}""";

    public static string ExpectedOutput(int i) => $"\"{(long)i * i}\"";

    public static string InputHash(string input) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(input)));
}

/// <param name="Live">Experiments of the project not being deleted.</param>
/// <param name="Deleting">Experiments of the project marked for deletion (soft-deleted, in grace or being reclaimed).</param>
/// <param name="Events">Spans plus evaluation metrics of all experiments in the store.</param>
/// <param name="ProjectRows">1 while the project row exists (live or being deleted), 0 once reclaimed.</param>
internal sealed record ExperimentCounts(long Live, long Deleting, long Events, long ProjectRows);

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
