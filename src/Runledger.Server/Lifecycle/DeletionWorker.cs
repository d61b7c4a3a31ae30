using System.Data.Common;
using System.Text.Json;
using Dapper;
using Microsoft.Extensions.Options;
using Runledger.Server.Hosting;
using Runledger.Storage;
using Runledger.Storage.Audit;
using Runledger.Storage.Diagnostics;
using Runledger.Storage.Lifecycle;

namespace Runledger.Server.Lifecycle;

/// <summary>
/// Steps 2–4 of the lifecycle: claims jobs (any node may take any job; PostgreSQL uses
/// <c>FOR UPDATE SKIP LOCKED</c>), empties each child table in bounded batches — each batch one
/// transaction that also records progress and renews the lease — then removes the target and
/// writes the audit entry in one last transaction. A node killed at any point leaves a job whose
/// lease expires; whoever claims it next carries on from what is left. Small jobs are claimed and
/// finished several to a transaction first (<see cref="RunSmallJobsAsync"/>).
/// </summary>
public sealed partial class DeletionWorker(
    IDatabase database,
    CascadeRegistry registry,
    IDeletionJobStore jobs,
    IAuditStore audit,
    HoldChecker holds,
    JobSignal signal,
    CascadePacer pacer,
    IOptions<LifecycleOptions> options,
    TimeProvider time,
    ILogger<DeletionWorker> logger) : BackgroundService
{
    private readonly string _nodeId = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}";

    public string NodeId => _nodeId;

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        options.Value.WorkerEnabled
            ? BackgroundThread.RunAsync("rl-deletion", Priority, () => LoopAsync(stoppingToken))
            : Task.CompletedTask;

    /// <summary><see cref="LifecycleOptions.WorkerPriority"/>, or by provider when unset: idle on SQLite, normal on PostgreSQL.</summary>
    public BackgroundPriority Priority => options.Value.WorkerPriority
        ?? (database.ProviderName == "sqlite" ? BackgroundPriority.Idle : BackgroundPriority.Normal);

    /// <summary>The OS id of the thread the worker's loop runs on, once it runs (Linux).</summary>
    public int? LoopThreadId { get; private set; }

    private async Task LoopAsync(CancellationToken stoppingToken)
    {
        LoopThreadId = BackgroundThread.CurrentOsThreadId();
        var poll = TimeSpan.FromSeconds(options.Value.PollSeconds);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await CountOpenJobsIfDueAsync(time.GetUtcNow().ToUnixTimeMilliseconds(), stoppingToken);
                var (grouped, noneDue) = await RunSmallJobsCoreAsync(stoppingToken);
                if (grouped == 0 && (noneDue || !await RunOnceAsync(stoppingToken)))
                {
                    await signal.WaitAsync(poll, time, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                // The store may be briefly unreachable; the loop must outlive that.
                LogLoopError(logger, ex);
                await signal.WaitAsync(poll, time, stoppingToken);
            }
        }
    }

    /// <summary>Claims and works one job to its end. False when there was nothing to do.</summary>
    public Task<bool> RunOnceAsync(CancellationToken cancellationToken) => RunOnceAsync(maxBatches: null, cancellationToken);

    /// <summary>
    /// Claims and works one job, or carries on with the job this node left part-way. With
    /// <paramref name="maxBatches"/>, stops after that many committed batches and keeps the lease, so the
    /// job can be seen part-way (rows removed and left); the next call carries on where it stopped.
    /// False when there was nothing to do.
    /// </summary>
    public async Task<bool> RunOnceAsync(int? maxBatches, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        await CountOpenJobsIfDueAsync(now, cancellationToken);
        var job = await ResumeAsync(cancellationToken) ?? await jobs.ClaimNextAsync(_nodeId, now, now + (settings.LeaseSeconds * 1000L), cancellationToken);
        if (job is null)
        {
            return false;
        }

        LogClaimed(logger, job.Id, job.Kind, job.TargetId, job.Attempts);
        using var activity = RunledgerTelemetry.Source.StartActivity("deletion.job");
        activity?.SetTag("runledger.job.id", job.Id);
        activity?.SetTag("runledger.job.kind", job.Kind);
        var started = time.GetTimestamp();
        var outcome = "failed";
        try
        {
            outcome = await ProcessAsync(job, maxBatches, cancellationToken);
        }
        catch (LeaseLostException)
        {
            outcome = "lease_lost";
            LogLeaseLost(logger, job.Id);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutting down: the lease runs out and whoever claims the job next carries on.
            outcome = "cancelled";
            throw;
        }
        catch (Exception ex)
        {
            var failedAt = time.GetUtcNow().ToUnixTimeMilliseconds();
            long? retryAt = job.Attempts >= settings.MaxAttempts
                ? null
                : failedAt + (long)(Math.Min(settings.RetryMaxSeconds, settings.RetryBaseSeconds * Math.Pow(2, job.Attempts - 1)) * 1000);
            LogJobFailed(logger, ex, job.Id, job.Attempts, retryAt is null ? "no further attempts" : "will retry");
            await jobs.FailAsync(job.Id, _nodeId, $"{ex.GetType().Name}: {ex.Message}", failedAt, retryAt, CancellationToken.None);
        }
        finally
        {
            // A job stopped part-way on purpose is not over: its duration is recorded when it ends.
            if (outcome != Yielded)
            {
                RunledgerTelemetry.DeletionJobDuration.Record(
                    time.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>("kind", job.Kind), new KeyValuePair<string, object?>("outcome", outcome));
            }
        }

        return true;
    }

    /// <summary>
    /// The most rows one group removes (or <see cref="LifecycleOptions.BatchSize"/>, if smaller). A
    /// larger job is found out by removing up to this many of its rows and rolling them back, so the
    /// bound is also what that costs, once each time such a job comes up.
    /// </summary>
    public const int SmallJobRows = 1_000;

    /// <summary>
    /// How long one <see cref="RunSmallJobsAsync"/> transaction goes on taking jobs. It holds the
    /// write queue (SQLite) or the audit chain meanwhile; on SQLite it also ends as soon as another
    /// writer queues (<see cref="IDatabase.WritersWaiting"/>), so a request waits for one job at most.
    /// </summary>
    public static readonly TimeSpan SmallJobTime = TimeSpan.FromMilliseconds(2);

    private const string JobSavepoint = "rl_job";

    /// <summary>
    /// Claims and finishes due jobs that are small — their rows fit in what is left of
    /// <see cref="SmallJobRows"/> — one after another in ONE transaction, up to
    /// <see cref="LifecycleOptions.SmallJobGroup"/> of them, for <see cref="SmallJobTime"/> or until another writer
    /// queues; answers how many it finished. Each job's claim, cascade, finish and audit entry are what the one-job path writes,
    /// in a savepoint of their own, and all commit together: a node killed meanwhile leaves every one
    /// of them queued as before, never half done. The first job that is not small, is under legal
    /// hold or fails is rolled back to its savepoint and left for <see cref="RunOnceAsync(CancellationToken)"/>,
    /// which claims it next (it is first in claim order) and batches, postpones or fails it as ever.
    /// </summary>
    /// <remarks>
    /// Measured (bench execution-bulk: 20,000 one-execution jobs): the one-job path writes ≈ 21 pages
    /// of log a job in two transactions (claim; cascade and finish), most of them the same pages of
    /// the jobs table, its indexes and the audit log again and again. Written together, those pages
    /// go to the log once per group.
    /// </remarks>
    public async Task<int> RunSmallJobsAsync(CancellationToken cancellationToken) => (await RunSmallJobsCoreAsync(cancellationToken)).Finished;

    /// <summary><see cref="RunSmallJobsAsync"/>, and whether it found no due job at all (then the one-job path has nothing to claim either).</summary>
    private async Task<(int Finished, bool NoneDue)> RunSmallJobsCoreAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        if (settings.SmallJobGroup <= 1)
        {
            // Groups are off: every job goes the one-job way.
            return (0, false);
        }

        var finished = new List<(DeletionJobRow Job, Dictionary<string, long> Progress, long Rows, TimeSpan Took)>();
        using (var turn = await database.EnterWriteQueueAsync(cancellationToken))
        {
            await using var connection = await database.OpenAsync(cancellationToken);
            await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);

            // The order every job transaction takes: holds (shared), then the audit chain, then rows.
            await database.Dialect.LockHoldsAsync(connection, transaction, exclusive: false, cancellationToken);
            await database.Dialect.LockAuditChainAsync(connection, transaction, cancellationToken);
            var began = time.GetTimestamp();
            var budget = (long)Math.Min(settings.BatchSize, SmallJobRows);
            var noneDue = false;
            while (finished.Count < settings.SmallJobGroup && budget > 0 && time.GetElapsedTime(began) < SmallJobTime
                && (finished.Count == 0 || !database.WritersWaiting))
            {
                var started = time.GetTimestamp();
                await transaction.SaveAsync(JobSavepoint, cancellationToken);
                (DeletionJobRow Job, Dictionary<string, long> Progress, long Rows)? done;
                var startedAt = time.GetUtcNow();
                try
                {
                    var (claimed, result) = await FinishSmallAsync(connection, transaction, budget, cancellationToken);
                    noneDue = !claimed && finished.Count == 0;
                    done = result;
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    // The one-job path meets this again and records it on the job.
                    LogSmallJobFailed(logger, ex);
                    done = null;
                }

                if (done is not { } job)
                {
                    try
                    {
                        await transaction.RollbackAsync(JobSavepoint, cancellationToken);
                    }
                    catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                    {
                        // The failure ended the whole transaction (SQLite does so for some I/O errors, and
                        // Microsoft.Data.Sqlite then refuses any command): nothing of the group is kept;
                        // every job is still queued as it was, and the one-job path goes on from there.
                        LogSmallJobFailed(logger, ex);
                        return (0, false);
                    }

                    break;
                }

                await transaction.ReleaseAsync(JobSavepoint, cancellationToken);
                finished.Add((job.Job, job.Progress, job.Rows, time.GetElapsedTime(started)));

                // A span per job, as the one-job path has, written once it is known to be one.
                using var activity = RunledgerTelemetry.Source.StartActivity("deletion.job", System.Diagnostics.ActivityKind.Internal, default(System.Diagnostics.ActivityContext), startTime: startedAt);
                activity?.SetTag("runledger.job.id", job.Job.Id);
                activity?.SetTag("runledger.job.kind", job.Job.Kind);
                activity?.SetTag("runledger.job.grouped", true);
                budget -= job.Rows;
            }

            if (finished.Count == 0)
            {
                return (0, noneDue);
            }

            await transaction.CommitAsync(cancellationToken);
        }

        foreach (var (job, progress, rows, took) in finished)
        {
            RunledgerTelemetry.CascadeRowsRemoved.Add(rows, new KeyValuePair<string, object?>("kind", job.Kind));
            RunledgerTelemetry.DeletionJobDuration.Record(
                took.TotalSeconds, new KeyValuePair<string, object?>("kind", job.Kind), new KeyValuePair<string, object?>("outcome", "done"));
            LogClaimed(logger, job.Id, job.Kind, job.TargetId, job.Attempts);
            LogFinished(logger, job.Id, job.Kind, job.TargetId, progress.Values.Sum());
        }

        return (finished.Count, false);
    }

    /// <summary>
    /// Inside the group's transaction: claims the next due job and, when its rows fit in
    /// <paramref name="budget"/> and no legal hold protects it, removes them, finishes it and appends
    /// its audit entry. Done is null when there is no due job (Claimed false) or it is not one for
    /// the group (the caller rolls back to the job's savepoint).
    /// </summary>
    private async Task<(bool Claimed, (DeletionJobRow Job, Dictionary<string, long> Progress, long Rows)? Done)> FinishSmallAsync(
        DbConnection connection, DbTransaction transaction, long budget, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var job = await jobs.ClaimNextAsync(connection, transaction, _nodeId, now, now + (settings.LeaseSeconds * 1000L), cancellationToken);
        if (job is null)
        {
            return (false, null);
        }

        if ((await holds.FindManyAsync(connection, transaction, job.Kind, [job.TargetId], job.Scope, cancellationToken))[0] is not null)
        {
            return (true, null);
        }

        var progress = JsonSerializer.Deserialize(job.Progress, LifecycleJson.Default.DictionaryStringInt64) ?? [];
        var parameters = new DynamicParameters(new { job.TargetId, job.Scope, JobId = job.Id, job.Cutoff });
        var removedAll = 0L;
        foreach (var child in registry.ChildrenOf(job.Kind))
        {
            var walk = child.PrefixWalk is { } walkSql ? new KeyPrefixWalk(walkSql) : null;
            var limit = (int)(budget - removedAll);
            var removed = await database.Dialect.DeleteBatchAsync(connection, transaction, child.Table, child.Where, child.KeyColumns, child.RangeWhere, walk, parameters, limit, cancellationToken);
            if (removed >= limit)
            {
                // More rows than the group has room for: a job for the batched path.
                return (true, null);
            }

            progress[child.Name] = progress.GetValueOrDefault(child.Name) + removed;
            removedAll += removed;
        }

        var finished = await FinishAsync(connection, transaction, job, progress, removedAll, cancellationToken);
        return (true, (job, progress, removedAll + finished));
    }

    /// <summary>
    /// The last step of every job, inside its last transaction: removes the target, records the rows
    /// (<paramref name="uncommitted"/> removed from children in this transaction, plus the target's),
    /// marks the job done and appends its <c>deletion.finished</c> entry. Answers the target's rows.
    /// </summary>
    private async Task<int> FinishAsync(
        DbConnection connection, DbTransaction transaction, DeletionJobRow job, Dictionary<string, long> progress, long uncommitted, CancellationToken cancellationToken)
    {
        var finished = await database.Dialect.ExecuteAsync(
            connection, transaction, registry.Kind(job.Kind).FinishSql, CascadeKind.Parameters(job.TargetId, job.Scope, job.Id, job.Cutoff), cancellationToken);
        progress[job.Kind] = progress.GetValueOrDefault(job.Kind) + finished;
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        if (!await jobs.RecordBatchAsync(connection, transaction, job.Id, _nodeId, uncommitted + finished, Serialize(progress), now + (options.Value.LeaseSeconds * 1000L), cancellationToken)
            || !await jobs.CompleteAsync(connection, transaction, job.Id, _nodeId, now, cancellationToken))
        {
            throw new LeaseLostException();
        }

        await audit.AppendAsync(connection, transaction, FinishedEntry(job, progress, now), cancellationToken);
        return finished;
    }

    private static AuditRow FinishedEntry(DeletionJobRow job, Dictionary<string, long> progress, long now) => new()
    {
        Id = Guid.CreateVersion7().ToString(),
        At = now,
        Actor = "system",
        Action = "deletion.finished",
        TargetKind = job.Kind,
        TargetId = job.TargetId,
        Scope = job.Scope,
        JobId = job.Id,
        Counts = Serialize(progress),
        Detail = $"requested by {job.RequestedBy}",
    };

    /// <summary>How often the open-jobs gauge is recounted.</summary>
    public static readonly TimeSpan GaugeInterval = TimeSpan.FromSeconds(15);

    private const string Yielded = "yielded";

    private long _countedAt = long.MinValue / 2;

    /// <summary>The job this node stopped part-way (<c>maxBatches</c>), while it still holds its lease.</summary>
    private string? _resumeJobId;

    private async Task<DeletionJobRow?> ResumeAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _resumeJobId, null) is not { } jobId)
        {
            return null;
        }

        var job = await jobs.GetAsync(jobId, cancellationToken);
        return job is { State: JobStates.Running } && job.LeaseOwner == _nodeId ? job : null;
    }

    /// <summary>
    /// Recounts the open-jobs gauge every <see cref="GaugeInterval"/>: on a timer, before any claim, so
    /// the count can neither strand a claimed job nor add a COUNT(*) to every poll.
    /// </summary>
    private async Task CountOpenJobsIfDueAsync(long now, CancellationToken cancellationToken)
    {
        if (now - _countedAt >= GaugeInterval.TotalMilliseconds)
        {
            _countedAt = now;
            await CountOpenJobsAsync(cancellationToken);
        }
    }

    /// <summary>Feeds the open-jobs gauge (queued or running, including those waiting out their grace).</summary>
    private async Task CountOpenJobsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        RunledgerTelemetry.SetOpenDeletionJobs(await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT COUNT(*) FROM deletion_jobs WHERE state IN ('queued', 'running')", cancellationToken: cancellationToken)));
    }

    /// <summary>How long a job under legal hold waits before the worker looks at it again.</summary>
    public static readonly TimeSpan HeldRecheck = TimeSpan.FromMinutes(1);

    /// <summary>Works the job; returns the outcome: <c>done</c>, <c>postponed</c> (a legal hold) or <c>yielded</c> (batch limit).</summary>
    private async Task<string> ProcessAsync(DeletionJobRow job, int? maxBatches, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var progress = JsonSerializer.Deserialize(job.Progress, LifecycleJson.Default.DictionaryStringInt64) ?? [];
        var parameters = new DynamicParameters(new { job.TargetId, job.Scope, JobId = job.Id, job.Cutoff });

        // A transaction covers children until BatchSize rows are gone, then commits with its
        // progress and renewed lease; small jobs (most) take one transaction for everything.
        await using var connection = await database.OpenAsync(cancellationToken);
        IDisposable? turn = null;
        DbTransaction? transaction = null;
        var budget = settings.BatchSize;
        var uncommitted = 0L;
        var batches = 0;
        var batchStarted = pacer.Start();
        try
        {
            foreach (var child in registry.ChildrenOf(job.Kind))
            {
                var walk = child.PrefixWalk is { } walkSql ? new KeyPrefixWalk(walkSql) : null;
                int removed;
                int limit;
                do
                {
                    if (transaction is null && !await BeginAsync())
                    {
                        return "postponed";
                    }

                    limit = budget;
                    removed = await database.Dialect.DeleteBatchAsync(connection, transaction!, child.Table, child.Where, child.KeyColumns, child.RangeWhere, walk, parameters, limit, cancellationToken);
                    progress[child.Name] = progress.GetValueOrDefault(child.Name) + removed;
                    uncommitted += removed;
                    budget -= removed;
                    if (budget == 0)
                    {
                        await CommitBatchAsync();
                        if (maxBatches is { } max && ++batches >= max)
                        {
                            _resumeJobId = job.Id;
                            return Yielded;
                        }

                        await pacer.PauseIfBusyAsync(batchStarted, cancellationToken);
                        batchStarted = pacer.Start();
                    }
                }
                while (removed >= limit);
            }

            // The last transaction appends to the audit chain. Every transaction that appends takes the
            // chain before any row lock; this one may already hold rows, so it only tries, and when the
            // chain is busy commits what it has and takes the chain first in a new transaction.
            if (transaction is not null && !await database.Dialect.TryLockAuditChainAsync(connection, transaction, cancellationToken))
            {
                await CommitBatchAsync();
            }

            if (transaction is null)
            {
                if (!await BeginAsync())
                {
                    return "postponed";
                }

                await database.Dialect.LockAuditChainAsync(connection, transaction!, cancellationToken);
            }

            var finished = await FinishAsync(connection, transaction!, job, progress, uncommitted, cancellationToken);
            await transaction!.CommitAsync(cancellationToken);
            RunledgerTelemetry.CascadeRowsRemoved.Add(uncommitted + finished, new KeyValuePair<string, object?>("kind", job.Kind));
        }
        finally
        {
            if (transaction is not null)
            {
                await transaction.DisposeAsync();
            }

            turn?.Dispose();
        }

        LogFinished(logger, job.Id, job.Kind, job.TargetId, progress.Values.Sum());
        return "done";

        // Every transaction checks for legal holds first, under the shared hold lock: a hold set while
        // the job runs is committed before this check (and seen) or waits for this commit, so no batch
        // removes a row a committed hold protects. Held: nothing of this transaction was done, the job waits.
        async Task<bool> BeginAsync()
        {
            turn = await database.EnterWriteQueueAsync(cancellationToken);
            transaction = await database.BeginWriteAsync(connection, cancellationToken);
            await database.Dialect.LockHoldsAsync(connection, transaction, exclusive: false, cancellationToken);
            var hold = (await holds.FindManyAsync(connection, transaction, job.Kind, [job.TargetId], job.Scope, cancellationToken))[0];
            if (hold is null)
            {
                return true;
            }

            await transaction.DisposeAsync();
            transaction = null;
            turn.Dispose();
            turn = null;
            LogHeld(logger, job.Id, hold.Kind, hold.Id);
            await jobs.PostponeAsync(job.Id, _nodeId, "waiting: " + hold.Detail(job.Kind, job.TargetId), time.GetUtcNow().ToUnixTimeMilliseconds() + (long)HeldRecheck.TotalMilliseconds, cancellationToken);
            return false;
        }

        async Task CommitBatchAsync()
        {
            var leaseUntil = time.GetUtcNow().ToUnixTimeMilliseconds() + (settings.LeaseSeconds * 1000L);
            if (!await jobs.RecordBatchAsync(connection, transaction!, job.Id, _nodeId, uncommitted, Serialize(progress), leaseUntil, cancellationToken))
            {
                throw new LeaseLostException();
            }

            await transaction!.CommitAsync(cancellationToken);
            RunledgerTelemetry.CascadeRowsRemoved.Add(uncommitted, new KeyValuePair<string, object?>("kind", job.Kind));
            await transaction.DisposeAsync();
            transaction = null;
            turn!.Dispose();
            turn = null;
            budget = settings.BatchSize;
            uncommitted = 0;
        }
    }

    private static string Serialize(Dictionary<string, long> progress) => JsonSerializer.Serialize(progress, LifecycleJson.Default.DictionaryStringInt64);

    private sealed class LeaseLostException : Exception;

    [LoggerMessage(Level = LogLevel.Information, Message = "Deletion job {JobId} claimed: {Kind} {TargetId} (attempt {Attempt})")]
    private static partial void LogClaimed(ILogger logger, string jobId, string kind, string targetId, long attempt);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deletion job {JobId} finished: {Kind} {TargetId}, {Rows} rows removed")]
    private static partial void LogFinished(ILogger logger, string jobId, string kind, string targetId, long rows);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deletion job {JobId} waits: the {HoldKind} '{HoldId}' is under legal hold")]
    private static partial void LogHeld(ILogger logger, string jobId, string holdKind, string holdId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Deletion job {JobId} was taken over by another node after its lease expired; stopping here")]
    private static partial void LogLeaseLost(ILogger logger, string jobId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Deletion job {JobId} failed on attempt {Attempt}; {Next}")]
    private static partial void LogJobFailed(ILogger logger, Exception exception, string jobId, long attempt, string next);

    [LoggerMessage(Level = LogLevel.Debug, Message = "A job of a small-job group failed; the one-job path takes it next")]
    private static partial void LogSmallJobFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Deletion worker loop error; retrying after the poll interval")]
    private static partial void LogLoopError(ILogger logger, Exception exception);
}

[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, long>))]
internal sealed partial class LifecycleJson : System.Text.Json.Serialization.JsonSerializerContext;
