using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Runledger.Server.LlmObs.Datasets;
using Runledger.Storage.LlmObs;

namespace Runledger.Server.LlmObs.Records;

/// <summary>
/// Answers of ListLLMObsDatasetRecords kept in memory, keyed on the state of the dataset's records
/// as its row names it: (<c>current_version</c>, <c>updated_at</c>), which every change of records
/// moves forward in the same transaction (DatasetStore.TouchedUpdatedAtSql), plus the request's
/// version, cursor and limit. The dataset row is read on every request anyway (to check the project
/// and the version), so an entry can never outlive the records it shows, also when another node
/// changed them: a changed dataset has another key. An earlier version's records do not change
/// until retention removes the version, which the request checks before it looks here.
/// Bounded by <see cref="DatasetOptions.ListCacheBytes"/> (0 turns it off); least used first out.
/// </summary>
public sealed class RecordListCache : IDisposable
{
    private readonly MemoryCache? _cache;

    public RecordListCache(IOptions<DatasetOptions> options)
    {
        var bytes = options.Value.ListCacheBytes;
        _cache = bytes > 0 ? new MemoryCache(new MemoryCacheOptions { SizeLimit = bytes, CompactionPercentage = 0.25 }) : null;
    }

    public bool Enabled => _cache is not null;

    public byte[]? Get(in Key key) => _cache is not null && _cache.TryGetValue(key, out byte[]? body) ? body : null;

    public void Set(in Key key, byte[] body)
    {
        if (_cache is null)
        {
            return;
        }

        using var entry = _cache.CreateEntry(key);
        entry.Value = body;
        // The key and entry bookkeeping are a few hundred bytes besides the body.
        entry.Size = body.Length + 256;
        // A dataset that changed leaves its old answers behind; they age out instead of waiting for pressure.
        entry.SlidingExpiration = TimeSpan.FromMinutes(2);
    }

    public void Dispose() => _cache?.Dispose();

    /// <summary>What one answer depends on: the dataset's state, and the request's version, cursor and limit.</summary>
    public readonly record struct Key(string DatasetId, long CurrentVersion, long UpdatedAt, long? Version, PageCursor? After, int Limit)
    {
        public static Key For(DatasetRow dataset, long? version, PageCursor? after, int limit) =>
            new(dataset.Id, dataset.CurrentVersion, dataset.UpdatedAt, version, after, limit);
    }
}
