namespace Runledger.Bench.Report;

/// <summary>Percentiles of a set of request latencies in ms (nearest-rank: p99 of 2,000 samples is the 1,980th fastest).</summary>
internal sealed record Latency(int Count, double P50, double P99, double P999, double Max, double Mean)
{
    public static Latency Of(IReadOnlyCollection<TimeSpan> samples)
    {
        if (samples.Count == 0)
        {
            throw new ArgumentException("No latency samples were taken.", nameof(samples));
        }

        var sorted = samples.Select(s => s.TotalMilliseconds).Order().ToArray();
        return new Latency(sorted.Length, Percentile(sorted, 50), Percentile(sorted, 99), Percentile(sorted, 99.9), sorted[^1], sorted.Average());
    }

    private static double Percentile(double[] sorted, double percent)
    {
        var rank = (int)Math.Ceiling(percent / 100 * sorted.Length);
        return sorted[Math.Clamp(rank, 1, sorted.Length) - 1];
    }
}
