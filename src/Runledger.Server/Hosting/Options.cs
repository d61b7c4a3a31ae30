namespace Runledger.Server.Hosting;

/// <summary>Where data lives. Keys: <c>Storage:Provider</c>, <c>Storage:DataDir</c>, <c>Storage:Postgres</c>.</summary>
public sealed class StorageOptions
{
    public const string Section = "Storage";

    /// <summary><c>sqlite</c> (default) or <c>postgres</c>. Setting <c>Storage:Postgres</c> alone selects postgres.</summary>
    public string? Provider { get; set; }

    /// <summary>Folder of the embedded SQLite file (<c>runledger.db</c>); created on first start.</summary>
    public string DataDir { get; set; } = "./data";

    /// <summary>Npgsql connection string, e.g. <c>Host=127.0.0.1;Username=runledger;Database=runledger</c>.</summary>
    public string? Postgres { get; set; }

    public string EffectiveProvider => Provider ?? (string.IsNullOrWhiteSpace(Postgres) ? "sqlite" : "postgres");
}

/// <summary>Request limits. Keys under <c>Limits:</c>.</summary>
public sealed class LimitsOptions
{
    public const string Section = "Limits";

    /// <summary>Largest accepted request body; larger bodies answer 413 in the dialect's shape.</summary>
    public long MaxRequestBodyBytes { get; set; } = 16 * 1024 * 1024;
}

/// <summary>Per-credential rate limit (fixed window). Keys under <c>RateLimit:</c>.</summary>
public sealed class RateLimitOptions
{
    public const string Section = "RateLimit";

    public bool Enabled { get; set; } = true;

    /// <summary>Requests one credential may make per window.</summary>
    public int PermitLimit { get; set; } = 50_000;

    public int WindowSeconds { get; set; } = 10;
}

/// <summary>The deletion engine. Keys under <c>Lifecycle:</c>.</summary>
public sealed class LifecycleOptions
{
    public const string Section = "Lifecycle";

    /// <summary>Whether this node works deletion jobs. An API-only node (false) still schedules them for other nodes.</summary>
    public bool WorkerEnabled { get; set; } = true;

    /// <summary>Rows removed per cascade transaction; small enough that other writers never wait long.</summary>
    public int BatchSize { get; set; } = 5_000;

    /// <summary>How long a node owns a claimed job without renewing it; after that another node (or a restart) resumes it.</summary>
    public int LeaseSeconds { get; set; } = 30;

    /// <summary>How often idle workers look for jobs that were not signalled in-process (other nodes, expired leases, retries).</summary>
    public double PollSeconds { get; set; } = 2;

    /// <summary>Attempts before a failing job is marked failed; the wait between attempts doubles from <c>RetryBaseSeconds</c>.</summary>
    public int MaxAttempts { get; set; } = 5;

    public double RetryBaseSeconds { get; set; } = 5;

    /// <summary>The longest wait between two attempts, however many have failed.</summary>
    public double RetryMaxSeconds { get; set; } = 300;

    /// <summary>Requests per second above which this node counts as busy and its cascades yield (see <c>BusyCascadeShare</c>).</summary>
    public double BusyRequestsPerSecond { get; set; } = 200;

    /// <summary>While the node is busy, the share of time its cascades may work (1 = never yield): after a batch of t ms it pauses t × (1 − share) / share.</summary>
    public double BusyCascadeShare { get; set; } = 0.5;

    /// <summary>
    /// The CPU priority of the worker's thread (a thread of its own either way): <c>Idle</c> (any
    /// request thread preempts it; Linux SCHED_IDLE) or <c>Normal</c>. Unset: <c>Idle</c> on SQLite,
    /// where the cascade's work runs in this thread, and <c>Normal</c> on PostgreSQL, where it runs in
    /// the database's processes and an idle thread only answered them later (bench on PostgreSQL:
    /// projects-delete 529,000 rows/s idle against 641,000 normal, under reads 441,000 against
    /// 491,000, the reads' p99 ratio 1.7× either way). On a saturated machine an idle worker
    /// waits until a core is free, and a write may wait for the batch it preempted.
    /// </summary>
    public BackgroundPriority? WorkerPriority { get; set; }

    /// <summary>
    /// The most small jobs (rows within 1,000 and <c>BatchSize</c>) the worker claims and finishes in
    /// one transaction (1 = each on its own). Bench, back to back: bulk deletes' jobs 8–14% faster on
    /// SQLite and 13–51% on PostgreSQL with 32, but on SQLite a DELETE's p50 0.73–0.84 ms against
    /// 0.44–0.66 ms with 1: a group holds the single write turn until the job under way ends.
    /// </summary>
    public int SmallJobGroup { get; set; } = 32;
}
