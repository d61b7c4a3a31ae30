using System.Collections.Concurrent;
using System.Diagnostics;

namespace Runledger.Storage;

/// <summary>
/// Remembers, for a short time, the positive answers of the look-ups that every request makes
/// before its own work — "this bearer token is a live credential", "this resource group is
/// visible" — so that a request does not pay two extra database queries for them.
/// <para>
/// On this node a change is seen at once: whatever can end such an answer (revoking or replacing a
/// credential, scheduling any deletion, which is how a resource group stops being visible) calls
/// <see cref="Invalidate"/> before its transaction and again after its commit, and an answer is
/// only remembered when no invalidation happened while it was being read. So an answer read before
/// the commit can never outlive it. Only positive answers are kept: a token or group that is not
/// found is looked up again every time, so a new credential or group works at once.
/// </para>
/// <para>
/// Other nodes on the same PostgreSQL see the change when their remembered answer expires, at most
/// <see cref="TimeToLive"/> later (real time, not the injectable clock: the bound is on how long a
/// revoked token may still be accepted elsewhere).
/// </para>
/// </summary>
public sealed class LookupCache
{
    /// <summary>How long a positive answer is trusted without asking the database again.</summary>
    public static readonly TimeSpan TimeToLive = TimeSpan.FromSeconds(1);

    /// <summary>More distinct keys than this and everything is forgotten (it is only a cache).</summary>
    private const int MaxEntries = 10_000;

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly long _ttlTicks = (long)(TimeToLive.TotalSeconds * Stopwatch.Frequency);
    private long _version;

    /// <summary>The version to pass to <see cref="Remember"/>: read it before the database query.</summary>
    public long Version => Interlocked.Read(ref _version);

    /// <summary>Forgets every remembered answer, and refuses to remember any answer read before this call.</summary>
    public void Invalidate()
    {
        Interlocked.Increment(ref _version);
        _entries.Clear();
    }

    public bool TryGet<T>(string key, out T value)
        where T : class
    {
        if (_entries.TryGetValue(key, out var entry) && entry.Version == Version && Stopwatch.GetTimestamp() - entry.At < _ttlTicks && entry.Value is T known)
        {
            value = known;
            return true;
        }

        value = null!;
        return false;
    }

    /// <summary>Remembers an answer read from the database after <paramref name="versionBefore"/> was taken, unless an invalidation happened since.</summary>
    public void Remember(string key, object value, long versionBefore)
    {
        if (versionBefore != Version)
        {
            return;
        }

        if (_entries.Count >= MaxEntries)
        {
            _entries.Clear();
        }

        _entries[key] = new Entry(value, versionBefore, Stopwatch.GetTimestamp());

        // An invalidation between the check above and the store: it may have cleared before the
        // entry was added, and the entry's version no longer matches, so TryGet ignores it anyway.
    }

    private sealed record Entry(object Value, long Version, long At);
}

/// <summary>Invalidates the cache when disposed: after a commit, and also when the write failed midway.</summary>
public sealed class InvalidateOnDispose(LookupCache cache) : IDisposable
{
    public void Dispose() => cache.Invalidate();
}
