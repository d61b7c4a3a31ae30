using Runledger.Storage;

namespace Runledger.Server.Hosting;

/// <summary>
/// Calls <see cref="IDatabase.MaintainAsync"/> four times a second (on SQLite: a passive WAL
/// checkpoint, so that committing writers never pay for one; with nothing to copy it costs microseconds). Logs and goes on after errors.
/// </summary>
/// <remarks>
/// The cadence is wall-clock housekeeping of the database file, so it runs on the system clock, not
/// the injected <see cref="TimeProvider"/>: a test that moves its fake clock by 30 days would
/// otherwise fire this 250 ms timer ten million times inside one <c>Advance</c>.
/// </remarks>
public sealed partial class StoreMaintenance(IDatabase database, ILogger<StoreMaintenance> logger) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// On a thread of its own: a checkpoint copies the log into the database and syncs it, all of it
    /// in the calling thread (10–35 ms per tick while a cascade writes). At normal priority, so that
    /// it keeps up with a saturated node (at idle priority the log would grow until a committing
    /// writer checkpoints it itself); the bench measured no clear gain for reads from idle here.
    /// </summary>
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        BackgroundThread.RunAsync("rl-checkpoint", BackgroundPriority.Normal, () => LoopAsync(stoppingToken));

    private async Task LoopAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await database.MaintainAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogFailed(logger, ex);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Store maintenance (WAL checkpoint) failed; retrying shortly")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
