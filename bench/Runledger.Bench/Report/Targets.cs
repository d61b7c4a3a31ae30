namespace Runledger.Bench.Report;

/// <summary>The targets of design.md ("Performance targets"), in one place so every scenario quotes them alike.</summary>
internal static class Targets
{
    public static readonly Target ScheduleDeleteP99 = Target.AtMost(10, "scheduling any delete: p99 ≤ 10 ms");

    public static readonly Target ServerRss = Target.AtMost(200, "server RSS ≤ 200 MB");

    public static readonly Target MetricIngest = Target.AtLeast(500_000, "metric ingest through PATCH /v2/lm/metrics: ≥ 500,000 metric points/s sustained");

    /// <summary>One request, so its time is held to the p99 bound.</summary>
    public static readonly Target ScheduleDelete = Target.AtMost(10, "scheduling any delete: p99 ≤ 10 ms");

    public static readonly Target CascadeRows = Target.AtLeast(1_000_000, "cascade throughput: ≥ 1,000,000 child rows/s removed in the background");

    public static readonly Target ReadP99 = Target.AtMost(5, "reads (GET /v2/lm/executions/{id}, list 100 records): p99 ≤ 5 ms at 2,000 requests/s");

    /// <summary>p99 of the same read load while a cascade runs, divided by its idle p99.</summary>
    public static readonly Target CascadeReadRatio = Target.AtMost(2, "cascade … while other traffic keeps p99 within 2x of its idle value");

    /// <summary>Not in design.md: a read that failed is not a fast read.</summary>
    public static readonly Target NoErrors = Target.AtMost(0, "every request answered as expected");

    public static readonly Target ColdStart = Target.AtMost(1000, "cold start to first answer ≤ 1 s");
}
