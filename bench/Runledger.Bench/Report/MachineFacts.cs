using System.Runtime.InteropServices;

namespace Runledger.Bench.Report;

/// <summary>What the figures were measured on; printed above the table and stored in the JSON.</summary>
internal sealed record MachineFacts(
    int Cores,
    string Cpu,
    string Memory,
    string Os,
    string Runtime,
    string Provider,
    string StoreVersion,
    string Commit,
    bool Smoke,
    IReadOnlyDictionary<string, string> ServerSettings)
{
    public static MachineFacts Collect(string provider, string storeVersion, string commit, bool smoke, IReadOnlyDictionary<string, string> serverSettings) => new(
        Environment.ProcessorCount,
        ProcField("/proc/cpuinfo", "model name") ?? RuntimeInformation.ProcessArchitecture.ToString(),
        ProcField("/proc/meminfo", "MemTotal") is { } kb ? $"{ParseKb(kb) / 1024 / 1024.0:0.0} GiB" : "unknown",
        RuntimeInformation.OSDescription,
        RuntimeInformation.FrameworkDescription,
        provider,
        storeVersion,
        commit,
        smoke,
        serverSettings);

    public IEnumerable<KeyValuePair<string, string>> Lines()
    {
        yield return new("cores", Cores.ToString(System.Globalization.CultureInfo.InvariantCulture));
        yield return new("cpu", Cpu);
        yield return new("memory", Memory);
        yield return new("os", Os);
        yield return new("runtime", Runtime);
        yield return new("provider", $"{Provider} ({StoreVersion})");
        yield return new("commit", Commit);
        yield return new("mode", Smoke ? "smoke (tiny sizes; figures are not comparable with the targets)" : "full");
        if (ServerSettings.Count > 0)
        {
            yield return new("server", "non-default settings: " + string.Join(", ", ServerSettings.Select(s => $"{s.Key}={s.Value}")));
        }
    }

    private static string? ProcField(string file, string field)
    {
        try
        {
            return File.ReadLines(file)
                .Where(l => l.StartsWith(field, StringComparison.Ordinal))
                .Select(l => l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim())
                .FirstOrDefault();
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static long ParseKb(string value) =>
        long.TryParse(value.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0], System.Globalization.CultureInfo.InvariantCulture, out var kb) ? kb : 0;
}
