using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Runledger.Storage.Diagnostics;

/// <summary>
/// The server's own instruments and spans (System.Diagnostics, exported by OpenTelemetry in the
/// host): what the stores and the lifecycle worker do, beside ASP.NET Core's request metrics.
/// Instruments cost next to nothing while nobody listens.
/// </summary>
public static class RunledgerTelemetry
{
    public const string Name = "Runledger";

    public static readonly ActivitySource Source = new(Name);

    private static readonly Meter Meter = new(Name);

    /// <summary>Metric points stored through PATCH /v2/lm/metrics.</summary>
    public static readonly Counter<long> MetricPointsIngested =
        Meter.CreateCounter<long>("runledger.metrics.points_ingested", "{point}", "Metric points stored by PATCH /v2/lm/metrics.");

    /// <summary>How many PATCH batches one group commit wrote together.</summary>
    public static readonly Histogram<int> MetricIngestGroupSize =
        Meter.CreateHistogram<int>("runledger.metrics.ingest_group_batches", "{batch}", "PATCH batches written in one group-commit transaction.",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64] });

    /// <summary>Rows the lifecycle worker removed, by kind of job and child table.</summary>
    public static readonly Counter<long> CascadeRowsRemoved =
        Meter.CreateCounter<long>("runledger.deletion.rows_removed", "{row}", "Rows removed by the deletion worker's cascade.");

    /// <summary>Pauses a cascade took after a batch because the node was busy serving requests.</summary>
    public static readonly Counter<long> CascadePauses =
        Meter.CreateCounter<long>("runledger.deletion.busy_pauses", "{pause}", "Pauses the deletion worker took between batches so that requests get the cores.");

    /// <summary>Time from a job's claim to its end, by kind and outcome.</summary>
    public static readonly Histogram<double> DeletionJobDuration =
        Meter.CreateHistogram<double>("runledger.deletion.job_duration", "s", "Time a deletion job took from claim to end.");

    /// <summary>Deletion requests accepted (one per target), by kind.</summary>
    public static readonly Counter<long> DeletionsScheduled =
        Meter.CreateCounter<long>("runledger.deletion.scheduled", "{job}", "Deletion jobs scheduled.");

    private static long s_openJobs;

    /// <summary>Open (queued or running) deletion jobs as last seen by this node's worker.</summary>
    public static readonly ObservableGauge<long> OpenDeletionJobs =
        Meter.CreateObservableGauge("runledger.deletion.open_jobs", () => Interlocked.Read(ref s_openJobs), "{job}", "Queued or running deletion jobs, as last counted by this node's worker.");

    public static void SetOpenDeletionJobs(long count) => Interlocked.Exchange(ref s_openJobs, count);
}
