using System.Threading.Channels;
using Runledger.Storage.Executions;

namespace Runledger.Server.Runner;

/// <summary>
/// Collects process output lines and writes them in batches (one multi-row insert per batch), so
/// a chatty process costs a few transactions per second, not one per line.
/// </summary>
public sealed partial class ExecutionLogWriter(IExecutionStore executions, ILogger<ExecutionLogWriter> logger) : BackgroundService
{
    private const int MaxBatch = 1_000;
    private readonly Channel<object> _queue = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });

    public void Write(LogLine line) => _queue.Writer.TryWrite(line);

    /// <summary>Completes once every line written before this call is stored.</summary>
    public Task FlushAsync()
    {
        var flushed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_queue.Writer.TryWrite(flushed))
        {
            flushed.SetResult();
        }

        return flushed.Task;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<LogLine>(MaxBatch);
        var waiting = new List<TaskCompletionSource>();
        try
        {
            while (await _queue.Reader.WaitToReadAsync(stoppingToken))
            {
                while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var item))
                {
                    if (item is LogLine line)
                    {
                        batch.Add(line);
                    }
                    else
                    {
                        waiting.Add((TaskCompletionSource)item);
                    }
                }

                await WriteAsync(batch, waiting, CancellationToken.None);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down: store what is already queued.
            while (_queue.Reader.TryRead(out var item))
            {
                if (item is LogLine line)
                {
                    batch.Add(line);
                }
                else
                {
                    waiting.Add((TaskCompletionSource)item);
                }
            }

            await WriteAsync(batch, waiting, CancellationToken.None);
        }
    }

    private async Task WriteAsync(List<LogLine> batch, List<TaskCompletionSource> waiting, CancellationToken cancellationToken)
    {
        try
        {
            await executions.AppendLogsAsync(batch, cancellationToken);
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or InvalidOperationException)
        {
            // Losing log lines must never take the runner down; say so loudly instead.
            LogWriteFailed(logger, ex, batch.Count);
        }

        batch.Clear();
        foreach (var flushed in waiting)
        {
            flushed.TrySetResult();
        }

        waiting.Clear();
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not store {Count} execution log lines")]
    private static partial void LogWriteFailed(ILogger logger, Exception exception, int count);
}
