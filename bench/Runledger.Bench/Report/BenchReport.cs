using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Runledger.Bench.Report;

/// <summary>The one table every run prints (scenario | figure | value | target | met?) and its JSON twin.</summary>
internal sealed class BenchReport(MachineFacts machine, DateTimeOffset startedAt, IReadOnlyList<ScenarioResult> results)
{
    public int TargetsMissed => results.SelectMany(r => r.Figures).Count(f => f.Met == false);

    public int ScenariosFailed => results.Count(r => r.Error is not null);

    public string RenderText()
    {
        var text = new StringBuilder();
        foreach (var (key, value) in machine.Lines())
        {
            text.Append(key.PadRight(9)).Append(": ").AppendLine(value);
        }

        foreach (var result in results)
        {
            var parameters = string.Join(", ", result.Parameters.Select(p => $"{p.Key} {p.Value}"));
            text.AppendLine($"{result.Scenario}: {parameters} ({result.Elapsed.TotalSeconds:0.0} s)");
        }

        text.AppendLine();
        var header = new[] { "scenario", "figure", "value", "target", "met?" };
        var rows = results.SelectMany(r => r.Figures.Select(f => new[] { f.Scenario, f.Name, f.DisplayValue, f.DisplayTarget, f.DisplayMet })
                .Concat(r.Error is null ? [] : [new[] { r.Scenario, "FAILED: " + r.Error, "", "", "NO" }]))
            .ToList();
        var widths = Enumerable.Range(0, header.Length).Select(i => rows.Select(r => r[i].Length).Append(header[i].Length).Max()).ToArray();
        // The figure column may hold a long failure message: only the value and target columns are right-aligned.
        string Line(string[] cells) =>
            "| " + string.Join(" | ", cells.Select((c, i) => i is 2 or 3 ? c.PadLeft(widths[i]) : c.PadRight(widths[i]))) + " |";
        text.AppendLine(Line(header));
        text.AppendLine("|" + string.Join("|", widths.Select((w, i) => i is 2 or 3 ? new string('-', w + 1) + ":" : new string('-', w + 2))) + "|");
        foreach (var row in rows)
        {
            text.AppendLine(Line(row));
        }

        var withTargets = results.SelectMany(r => r.Figures).Count(f => f.Target is not null);
        text.AppendLine();
        text.AppendLine($"{withTargets - TargetsMissed} of {withTargets} targets met; {ScenariosFailed} of {results.Count} scenarios failed.");
        return text.ToString();
    }

    public async Task WriteJsonAsync(string path, CancellationToken cancellationToken)
    {
        var document = new JsonReport(
            startedAt,
            machine,
            results.Select(r => new JsonScenario(
                r.Scenario,
                r.Parameters.ToDictionary(p => p.Key, p => p.Value),
                Math.Round(r.Elapsed.TotalSeconds, 3),
                r.Figures.Select(f => new JsonFigure(
                    f.Name, Math.Round(f.Value, 4), f.Unit, f.Target?.Describe(f.Unit), f.Target?.Goal.ToString(), f.Target?.Limit, f.Target?.Source, f.Met)).ToList(),
                r.Error)).ToList());
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        // "≤" and "→" stay readable in the file.
        var options = new JsonSerializerOptions(BenchJson.Default.Options) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        await using var stream = File.Create(path);
        await JsonSerializer.SerializeAsync(stream, document, (JsonTypeInfo<JsonReport>)options.GetTypeInfo(typeof(JsonReport)), cancellationToken);
    }
}

internal sealed record JsonReport(DateTimeOffset StartedAt, MachineFacts Machine, List<JsonScenario> Scenarios);

internal sealed record JsonScenario(string Name, Dictionary<string, string> Parameters, double ElapsedSeconds, List<JsonFigure> Figures, string? Error);

internal sealed record JsonFigure(string Name, double Value, string Unit, string? Target, string? Goal, double? Limit, string? TargetSource, bool? Met);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(JsonReport))]
internal sealed partial class BenchJson : JsonSerializerContext;
