namespace Runledger.Bench.Report;

/// <summary>What one scenario measured: its parameters, its figures, or the error that stopped it.</summary>
internal sealed class ScenarioResult(string scenario)
{
    private readonly List<Figure> _figures = [];
    private readonly List<KeyValuePair<string, string>> _parameters = [];

    public string Scenario { get; } = scenario;

    public IReadOnlyList<Figure> Figures => _figures;

    /// <summary>The setup that makes the figures comparable (rows seeded, requests, warm-up …).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Parameters => _parameters;

    public string? Error { get; set; }

    public TimeSpan Elapsed { get; set; }

    public void Parameter(string name, object value) =>
        _parameters.Add(new(name, value is IFormattable f ? f.ToString(null, System.Globalization.CultureInfo.InvariantCulture) : value.ToString() ?? ""));

    public Figure Add(string name, double value, string unit, Target? target = null)
    {
        var figure = new Figure(Scenario, name, value, unit, target);
        _figures.Add(figure);
        return figure;
    }

    /// <summary>p50, p99 and max; the target (a p99 target in design.md) applies to p99 only.</summary>
    public void AddLatency(string what, Latency latency, Target? p99Target = null)
    {
        Add($"{what}, p50", latency.P50, "ms");
        Add($"{what}, p99", latency.P99, "ms", p99Target);
        Add($"{what}, max", latency.Max, "ms");
    }

    /// <summary>
    /// The warm-up's p50/p99 (no target): the first requests after start, while the JIT still
    /// compiles the hot code again at its second tier, shown so the steady-state figures hide nothing.
    /// </summary>
    public void AddWarmUp(string what, Latency latency)
    {
        Add($"{what}, warm-up p50", latency.P50, "ms");
        Add($"{what}, warm-up p99", latency.P99, "ms");
    }

    /// <summary>
    /// An open-model run: p50/p99/p99.9/max from each request's due time (queueing included), the
    /// errors, the rate achieved against the one asked for, and the generator's own send lag.
    /// </summary>
    public void AddOpenLoad(string what, Harness.OpenLoadResult load, Latency latency, Target? p99Target = null)
    {
        Add($"{what}, p50", latency.P50, "ms");
        Add($"{what}, p99", latency.P99, "ms", p99Target);
        Add($"{what}, p99.9", latency.P999, "ms");
        Add($"{what}, max", latency.Max, "ms");
        Add($"{what}, errors", load.Errors, "requests", Targets.NoErrors);
        Add($"{what}, achieved rate", load.AchievedRate, "req/s", Target.AtLeast(load.TargetRate * 0.99, "the fixed rate asked for (within 1%)"));
        Add($"{what}, generator send lag p99", Latency.Of(load.SendLags.ToList()).P99, "ms");
    }

    /// <summary>design.md: "server RSS ≤ 200 MB under that load" — read as VmHWM, the process's peak.</summary>
    public void AddPeakRss(long bytes) => Add("server peak RSS (VmHWM)", bytes / (1024.0 * 1024.0), "MB", Targets.ServerRss);
}
