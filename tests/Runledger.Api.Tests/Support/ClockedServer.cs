using Microsoft.Extensions.Time.Testing;

namespace Runledger.Api.Tests.Support;

/// <summary>
/// A server whose clock the tests move (FakeTimeProvider) and whose deletion worker runs only when a
/// test calls it (<see cref="RunDeletionJobsAsync"/>): grace and retention are tested by advancing
/// time, never by waiting.
/// </summary>
public abstract class ClockedServer(Provider provider) : IAsyncLifetime
{
    public static readonly DateTimeOffset Start = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    private TestServer? _server;

    public FakeTimeProvider Clock { get; } = new(Start);

    public TestServer Server => _server ?? throw new InvalidOperationException("The server has not started.");

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(
        provider,
        new Dictionary<string, string?> { ["Lifecycle:WorkerEnabled"] = "false" },
        services => services.AddSingleton<TimeProvider>(Clock));

    /// <summary>Works every deletion job that is due now; returns how many were worked.</summary>
    public async Task<int> RunDeletionJobsAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var worker = Server.Service<Runledger.Server.Lifecycle.DeletionWorker>();
        var count = 0;
        while (await worker.RunOnceAsync(timeout.Token))
        {
            count++;
        }

        return count;
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

public sealed class SqliteClockedServer() : ClockedServer(Provider.Sqlite);

public sealed class PostgresClockedServer() : ClockedServer(Provider.Postgres);
