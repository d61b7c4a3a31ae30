namespace Runledger.Bench.Harness;

/// <summary>What every scenario gets: sizes (full or smoke), the store provider, the server build, a progress log.</summary>
internal sealed class BenchContext(
    bool smoke, IStoreProvider stores, string serverDll, string adminToken, IReadOnlyDictionary<string, string> serverSettings, string? serverLogDir, TextWriter log)
{
    private int _servers;

    /// <summary>The AI API's default resource group; the server creates it on start.</summary>
    public const string ResourceGroup = "default";

    public bool Smoke { get; } = smoke;

    public IStoreProvider Stores { get; } = stores;

    public string ServerDll { get; } = serverDll;

    public string AdminToken { get; } = adminToken;

    /// <summary>Given with <c>--server-setting</c>; applied to every server after the store's own settings.</summary>
    public IReadOnlyDictionary<string, string> ServerSettings { get; } = serverSettings;

    /// <summary>
    /// False when <c>--server-setting Lifecycle:WorkerEnabled=false</c> turned the deletion worker off
    /// (to see what scheduling costs without it): then no job ever finishes, and scenarios do not wait for them.
    /// </summary>
    public bool WorkerEnabled => !(ServerSettings.TryGetValue("Lifecycle:WorkerEnabled", out var value) && bool.TryParse(value, out var enabled) && !enabled);

    /// <summary>Progress lines (stderr): stdout carries only the results.</summary>
    public TextWriter Log { get; } = log;

    /// <summary>Full size, or the tiny size of <c>--smoke</c>.</summary>
    public T Size<T>(T full, T smoke) => Smoke ? smoke : full;

    /// <summary>With <c>--server-log DIR</c>: DIR/server-N.log for the N-th server started; otherwise null.</summary>
    public string? NextServerLogFile()
    {
        var n = Interlocked.Increment(ref _servers);
        if (serverLogDir is null)
        {
            return null;
        }

        Directory.CreateDirectory(serverLogDir);
        var path = Path.Combine(serverLogDir, $"server-{n}.log");
        Progress("bench", $"server {n} logs to {path}");
        return path;
    }

    public Task<BenchServer> StartServerAsync(CancellationToken cancellationToken) => BenchServer.StartAsync(this, cancellationToken);

    public void Progress(string scenario, string message) => Log.WriteLine($"[{scenario}] {message}");
}
