using Dapper;
using Runledger.Server.Hosting;
using Runledger.Storage;
using Runledger.Storage.Audit;
using Runledger.Storage.Diagnostics;
using Runledger.Storage.Lifecycle;

namespace Runledger.Server.Lifecycle;

public abstract record ScheduleResult
{
    public sealed record Scheduled(string JobId) : ScheduleResult;

    /// <summary>The target does not exist or is already being deleted.</summary>
    public sealed record NotFound : ScheduleResult;

    /// <summary>Not scheduled because another target of the same all-or-none request was <see cref="Held"/>.</summary>
    public sealed record NotAttempted : ScheduleResult;

    /// <summary>
    /// Refused by a legal hold on the target, on something it contains, or on something that contains
    /// it; nothing was marked and a <c>deletion.refused</c> audit entry was written. Dialects answer
    /// with <see cref="Held.Detail"/>: AI API 412, LLM Obs 403.
    /// </summary>
    public sealed record Held(string HoldKind, string HoldId, string Reason) : ScheduleResult
    {
        /// <summary>The error detail: names the hold, its reason and how to clear it.</summary>
        public string Detail(string targetKind, string targetId) => HoldRef.Detail(HoldKind, HoldId, Reason, targetKind, targetId);
    }
}

/// <summary>Wakes the local deletion worker when a job is scheduled, so it starts at once instead of at the next poll.</summary>
public sealed class JobSignal : WakeSignal;

/// <summary>
/// Step 1 of the lifecycle: in ONE transaction, hide the target from readers, write the durable
/// job and the audit entry. The caller answers the client right after; the worker does the rest.
/// </summary>
public sealed class DeletionScheduler(IDatabase database, CascadeRegistry registry, GracePeriods grace, HoldChecker holds, IDeletionJobStore jobs, IAuditStore audit, JobSignal signal, TimeProvider time)
{
    public async Task<ScheduleResult> ScheduleAsync(string kind, string targetId, string scope, string actor, CancellationToken cancellationToken) =>
        (await ScheduleManyAsync(kind, [targetId], scope, actor, cancellationToken))[0];

    /// <summary>
    /// Schedules the deletion of several targets of one kind in ONE transaction (one job and one
    /// audit entry each): a bulk request costs one commit, not one per item. Results are in the
    /// order of <paramref name="targetIds"/>; a target that is missing or already being deleted is NotFound,
    /// one under legal hold is Held (checked in the same transaction, so a hold set meanwhile wins).
    /// </summary>
    public Task<IReadOnlyList<ScheduleResult>> ScheduleManyAsync(string kind, IReadOnlyList<string> targetIds, string scope, string actor, CancellationToken cancellationToken) =>
        ScheduleManyAsync(kind, targetIds, scope, actor, cutoff: null, cancellationToken);

    /// <summary>
    /// As above, for kinds that reclaim by age: <paramref name="cutoff"/> (Unix ms) is stored on each
    /// job and given to its SQL as <c>@Cutoff</c>.
    /// </summary>
    public Task<IReadOnlyList<ScheduleResult>> ScheduleManyAsync(string kind, IReadOnlyList<string> targetIds, string scope, string actor, long? cutoff, CancellationToken cancellationToken) =>
        ScheduleAsync(kind, targetIds, scope, actor, cutoff, allOrNone: false, cancellationToken);

    /// <summary>
    /// As <see cref="ScheduleManyAsync(string, IReadOnlyList{string}, string, string, CancellationToken)"/>, but when
    /// any target is under legal hold none is scheduled: the held ones are Held (with their refusal
    /// audited), the others NotAttempted, and nothing is marked. For one request naming several targets
    /// whose refusal must change nothing.
    /// </summary>
    public Task<IReadOnlyList<ScheduleResult>> ScheduleAllOrNoneAsync(string kind, IReadOnlyList<string> targetIds, string scope, string actor, CancellationToken cancellationToken) =>
        ScheduleAsync(kind, targetIds, scope, actor, cutoff: null, allOrNone: true, cancellationToken);

    private async Task<IReadOnlyList<ScheduleResult>> ScheduleAsync(string kind, IReadOnlyList<string> targetIds, string scope, string actor, long? cutoff, bool allOrNone, CancellationToken cancellationToken)
    {
        var cascade = registry.Kind(kind);
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();

        // Within grace the target is only marked (hidden); the worker does not claim the job before purge_after.
        var purgeAfter = now + (long)grace.Of(kind).TotalMilliseconds;
        var results = new ScheduleResult[targetIds.Count];
        if (targetIds.Count == 0)
        {
            return results;
        }

        using var turn = await database.EnterWriteQueueAsync(cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        var refused = false;

        // All or none: every hold is looked up before anything is marked (in this transaction, so a
        // hold set meanwhile still wins); one refusal leaves every target as it was.
        var held = new HoldRef?[targetIds.Count];
        if (allOrNone)
        {
            for (var i = 0; i < targetIds.Count; i++)
            {
                held[i] = await holds.FindAsync(connection, transaction, kind, targetIds[i], scope, cancellationToken);
            }
        }

        var refuseAll = held.Any(h => h is not null);
        for (var i = 0; i < targetIds.Count; i++)
        {
            if ((allOrNone ? held[i] : await holds.FindAsync(connection, transaction, kind, targetIds[i], scope, cancellationToken)) is { } hold)
            {
                await audit.AppendAsync(connection, transaction, new AuditRow
                {
                    Id = Guid.CreateVersion7().ToString(),
                    At = now,
                    Actor = actor,
                    Action = "deletion.refused",
                    TargetKind = kind,
                    TargetId = targetIds[i],
                    Scope = scope,
                    Counts = "{}",
                    Detail = hold.Detail(kind, targetIds[i]),
                }, cancellationToken);
                results[i] = new ScheduleResult.Held(hold.Kind, hold.Id, hold.Reason);
                refused = true;
                continue;
            }

            if (refuseAll)
            {
                results[i] = new ScheduleResult.NotAttempted();
                continue;
            }

            var jobId = Guid.CreateVersion7().ToString();
            var marked = await connection.ExecuteAsync(new CommandDefinition(
                cascade.MarkSql, new { TargetId = targetIds[i], Scope = scope, JobId = jobId, Cutoff = cutoff }, transaction, cancellationToken: cancellationToken));
            if (marked != 1)
            {
                results[i] = new ScheduleResult.NotFound();
                continue;
            }

            await jobs.InsertAsync(connection, transaction, new DeletionJobRow
            {
                Id = jobId,
                Kind = kind,
                TargetId = targetIds[i],
                Scope = scope,
                State = JobStates.Queued,
                RequestedBy = actor,
                RequestedAt = now,
                Progress = "{}",
                PurgeAfter = purgeAfter,
                Cutoff = cutoff,
            }, cancellationToken);
            await audit.AppendAsync(connection, transaction, new AuditRow
            {
                Id = Guid.CreateVersion7().ToString(),
                At = now,
                Actor = actor,
                Action = "deletion.requested",
                TargetKind = kind,
                TargetId = targetIds[i],
                Scope = scope,
                JobId = jobId,
                Counts = "{}",
                Detail = purgeAfter > now ? $"restorable until {DateTimeOffset.FromUnixTimeMilliseconds(purgeAfter):O}" : null,
            }, cancellationToken);
            results[i] = new ScheduleResult.Scheduled(jobId);
        }

        if (refused || results.Any(r => r is ScheduleResult.Scheduled))
        {
            await transaction.CommitAsync(cancellationToken);
            RunledgerTelemetry.DeletionsScheduled.Add(results.Count(r => r is ScheduleResult.Scheduled), new KeyValuePair<string, object?>("kind", kind));
            signal.Notify();
        }

        return results;
    }
}
