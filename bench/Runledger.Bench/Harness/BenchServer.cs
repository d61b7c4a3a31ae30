using System.Diagnostics;

namespace Runledger.Bench.Harness;

/// <summary>A started server on its own fresh store, with a client; disposing stops it (SIGTERM) and removes the store.</summary>
internal sealed class BenchServer : IAsyncDisposable
{
    private static readonly TimeSpan ShutdownGrace = TimeSpan.FromSeconds(30);
    private bool _stopped;

    private BenchServer(IStore store, ServerProcess process, ApiClient client, TimeSpan coldStart)
    {
        Store = store;
        Process = process;
        Client = client;
        ColdStart = coldStart;
    }

    public IStore Store { get; }

    public ServerProcess Process { get; }

    public ApiClient Client { get; }

    /// <summary>From process start to the first 200 on <c>/readyz</c>.</summary>
    public TimeSpan ColdStart { get; }

    public static async Task<BenchServer> StartAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var store = await context.Stores.CreateAsync(cancellationToken);
        ServerProcess? process = null;
        try
        {
            var settings = new Dictionary<string, string>(store.ServerSettings, StringComparer.OrdinalIgnoreCase);
            foreach (var (key, value) in context.ServerSettings)
            {
                settings[key] = value;
            }

            process = ServerProcess.Start(context.ServerDll, settings, context.AdminToken, context.NextServerLogFile());
            var coldStart = await process.WaitReadyAsync(TimeSpan.FromSeconds(60), cancellationToken);
            return new BenchServer(store, process, new ApiClient(process.BaseAddress, context.AdminToken), coldStart);
        }
        catch
        {
            if (process is not null)
            {
                await process.DisposeAsync();
            }

            await store.DisposeAsync();
            throw;
        }
    }

    /// <summary>SIGTERM and wait; returns how long the server took to exit and its exit code (null: it had to be killed).</summary>
    public async Task<(TimeSpan Elapsed, int? ExitCode)> StopAsync()
    {
        _stopped = true;
        var started = Stopwatch.GetTimestamp();
        var exitCode = await Process.StopAsync(ShutdownGrace);
        return (Stopwatch.GetElapsedTime(started), exitCode);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        try
        {
            if (!_stopped)
            {
                await StopAsync();
            }
        }
        finally
        {
            await Process.DisposeAsync();
            await Store.DisposeAsync();
        }
    }
}
