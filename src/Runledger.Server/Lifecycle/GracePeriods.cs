using System.Globalization;
using Microsoft.Extensions.Options;

namespace Runledger.Server.Lifecycle;

/// <summary>
/// Grace periods per kind from <c>Lifecycle:Grace:&lt;kind&gt;</c> (a TimeSpan, e.g. <c>7.00:00:00</c>).
/// Within grace a deleted target stays hidden but restorable; its children are reclaimed after it.
/// </summary>
public sealed class GraceOptions
{
    public const string Section = "Lifecycle:Grace";

    /// <summary>Kind → configured text, exactly as given (parsed and checked by <see cref="GraceOptionsValidator"/>).</summary>
    public Dictionary<string, string?> Configured { get; } = new(StringComparer.OrdinalIgnoreCase);

    internal static bool TryParse(string? text, out TimeSpan grace) =>
        TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out grace) && grace >= TimeSpan.Zero;
}

internal sealed class GraceOptionsValidator(CascadeRegistry registry) : IValidateOptions<GraceOptions>
{
    public ValidateOptionsResult Validate(string? name, GraceOptions options)
    {
        var failures = new List<string>();
        foreach (var (kind, text) in options.Configured)
        {
            if (!registry.IsKnown(kind))
            {
                failures.Add($"{GraceOptions.Section}:{kind} names no deletable kind; use one of {string.Join(", ", registry.KindNames)}.");
            }
            else if (!GraceOptions.TryParse(text, out _))
            {
                failures.Add($"{GraceOptions.Section}:{kind} is '{text}'; use a non-negative TimeSpan such as 30.00:00:00 (30 days), 01:00:00 (1 hour) or 0 (reclaim at once).");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>The effective grace of each kind: configured, else the kind's default (0 unless the kind says otherwise).</summary>
public sealed class GracePeriods(CascadeRegistry registry, IOptions<GraceOptions> options)
{
    public TimeSpan Of(string kind) =>
        options.Value.Configured.TryGetValue(kind, out var text) && GraceOptions.TryParse(text, out var grace)
            ? grace
            : registry.Kind(kind).DefaultGrace;

    internal static void Bind(GraceOptions options, IConfiguration configuration)
    {
        foreach (var child in configuration.GetSection(GraceOptions.Section).GetChildren())
        {
            options.Configured[child.Key] = child.Value;
        }
    }
}
