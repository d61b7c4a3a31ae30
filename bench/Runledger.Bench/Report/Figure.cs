using System.Globalization;

namespace Runledger.Bench.Report;

/// <summary>Whether a figure must stay under its limit (latency, memory) or reach it (throughput).</summary>
internal enum Goal
{
    AtMost,
    AtLeast,
}

/// <summary>A target from design.md ("Performance targets"); <c>Source</c> names the line it comes from.</summary>
internal sealed record Target(Goal Goal, double Limit, string Source)
{
    public static Target AtMost(double limit, string source) => new(Goal.AtMost, limit, source);

    public static Target AtLeast(double limit, string source) => new(Goal.AtLeast, limit, source);

    public bool IsMet(double value) => Goal == Goal.AtMost ? value <= Limit : value >= Limit;

    public string Describe(string unit) => $"{(Goal == Goal.AtMost ? "≤" : "≥")} {Figure.Format(Limit)} {unit}";
}

/// <summary>One measured number of one scenario, with the target it is held to (if any).</summary>
internal sealed record Figure(string Scenario, string Name, double Value, string Unit, Target? Target = null)
{
    public bool? Met => Target?.IsMet(Value);

    public string DisplayValue => $"{Format(Value)} {Unit}";

    public string DisplayTarget => Target?.Describe(Unit) ?? "–";

    public string DisplayMet => Met switch
    {
        true => "yes",
        false => "NO",
        null => "–",
    };

    /// <summary>Three significant digits for small values, thousands separators for large ones.</summary>
    public static string Format(double value) => Math.Abs(value) switch
    {
        >= 1000 => value.ToString("#,0", CultureInfo.InvariantCulture),
        >= 100 => value.ToString("0.#", CultureInfo.InvariantCulture),
        >= 10 => value.ToString("0.0#", CultureInfo.InvariantCulture),
        _ => value.ToString("0.0##", CultureInfo.InvariantCulture),
    };
}
