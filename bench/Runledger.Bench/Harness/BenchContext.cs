namespace Runledger.Bench.Harness;

/// <summary>What every scenario gets: sizes (full or smoke), the store provider, the server build, a progress log.</summary>
internal sealed class BenchContext(bool smoke, IStoreProvider stores, string serverDll, string adminToken, TextWriter log)
{
    /// <summary>The AI API's default resource group; the server creates it on start.</summary>
    public const string ResourceGroup = "default";

    public bool Smoke { get; } = smoke;

    public IStoreProvider Stores { get; } = stores;

    public string ServerDll { get; } = serverDll;

    public string AdminToken { get; } = adminToken;

    /// <summary>Progress lines (stderr): stdout carries only the results.</summary>
    public TextWriter Log { get; } = log;

    /// <summary>Full size, or the tiny size of <c>--smoke</c>.</summary>
    public T Size<T>(T full, T smoke) => Smoke ? smoke : full;

    public Task<BenchServer> StartServerAsync(CancellationToken cancellationToken) => BenchServer.StartAsync(this, cancellationToken);

    public void Progress(string scenario, string message) => Log.WriteLine($"[{scenario}] {message}");
}
