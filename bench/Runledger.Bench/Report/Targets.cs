namespace Runledger.Bench.Report;

/// <summary>The targets of design.md ("Performance targets"), in one place so every scenario quotes them alike.</summary>
internal static class Targets
{
    public static readonly Target ScheduleDeleteP99 = Target.AtMost(10, "scheduling any delete: p99 ≤ 10 ms");

    public static readonly Target ServerRss = Target.AtMost(200, "server RSS ≤ 200 MB");

    public static readonly Target MetricIngest = Target.AtLeast(500_000, "metric ingest through PATCH /v2/lm/metrics: ≥ 500,000 metric points/s sustained");

    public static readonly Target ColdStart = Target.AtMost(1000, "cold start to first answer ≤ 1 s");
}
