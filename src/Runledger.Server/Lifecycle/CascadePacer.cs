using Microsoft.Extensions.Options;
using Runledger.Server.Hosting;
using Runledger.Storage.Diagnostics;

namespace Runledger.Server.Lifecycle;

/// <summary>Requests this node has begun to serve, counted by <see cref="RequestLogging"/>.</summary>
public sealed class ForegroundTraffic
{
    private long _started;

    public long Started => Volatile.Read(ref _started);

    public void Begin() => Interlocked.Increment(ref _started);
}

/// <summary>
/// Background deletion yields to users. A cascade batch takes a core for as long as it runs, and on
/// a small machine the requests served meanwhile queue behind it: after each full batch, when this
/// node served more than <see cref="LifecycleOptions.BusyRequestsPerSecond"/> during it, the worker
/// pauses so that cascades take at most <see cref="LifecycleOptions.BusyCascadeShare"/> of the time.
/// With no traffic (or a status poll now and then) cascades run flat out.
/// </summary>
public sealed class CascadePacer(ForegroundTraffic traffic, IOptions<LifecycleOptions> options, TimeProvider time)
{
    public readonly record struct Mark(long Timestamp, long Requests);

    public Mark Start() => new(time.GetTimestamp(), traffic.Started);

    /// <summary>Waits out the pause the batch begun at <paramref name="since"/> owes, if the node was busy while it ran.</summary>
    public async ValueTask PauseIfBusyAsync(Mark since, CancellationToken cancellationToken)
    {
        var pause = Pause(time.GetElapsedTime(since.Timestamp), traffic.Started - since.Requests, options.Value.BusyRequestsPerSecond, options.Value.BusyCascadeShare);
        if (pause > TimeSpan.Zero)
        {
            RunledgerTelemetry.CascadePauses.Add(1);
            await Task.Delay(pause, time, cancellationToken);
        }
    }

    /// <summary>
    /// The pause after a batch that took <paramref name="batch"/> while <paramref name="requests"/>
    /// began: none below the busy rate, else what brings the batch's share of the time down to
    /// <paramref name="share"/>.
    /// </summary>
    public static TimeSpan Pause(TimeSpan batch, long requests, double busyRequestsPerSecond, double share) =>
        batch <= TimeSpan.Zero || share >= 1 || requests / batch.TotalSeconds < busyRequestsPerSecond
            ? TimeSpan.Zero
            : batch * ((1 - share) / share);
}
