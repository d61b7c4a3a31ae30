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
public sealed class DeletionScheduler(IDatabase database, CascadeRegistry registry, GracePeriods grace, HoldChecker holds, IDeletionJobStore jobs, IAuditStore audit, JobSignal signal, TimeProvider time, LookupCache lookups)
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
        ScheduleManyAsync(kind, targetIds, scope, actor, new ScheduleOptions(Cutoff: cutoff), cancellationToken);

    /// <summary>
    /// As <see cref="ScheduleManyAsync(string, IReadOnlyList{string}, string, string, CancellationToken)"/>, but when
    /// any target is under legal hold none is scheduled: the held ones are Held (with their refusal
    /// audited), the others NotAttempted, and nothing is marked. For one request naming several targets
    /// whose refusal must change nothing.
    /// </summary>
    public Task<IReadOnlyList<ScheduleResult>> ScheduleAllOrNoneAsync(string kind, IReadOnlyList<string> targetIds, string scope, string actor, CancellationToken cancellationToken) =>
        ScheduleManyAsync(kind, targetIds, scope, actor, new ScheduleOptions(AllOrNone: true), cancellationToken);

    /// <summary>
    /// The general form: <see cref="ScheduleOptions.Cutoff"/> for kinds that reclaim by age (one open job per
    /// target: a target that has one is NotFound), <see cref="ScheduleOptions.Parent"/> stored on each job
    /// for the list filter, <see cref="ScheduleOptions.Note"/> added to each <c>deletion.requested</c> entry.
    /// Set-based: one hold look-up (when any hold exists, one per target), the marks sent together, then
    /// one multi-row insert of the jobs and one of the audit entries.
    /// </summary>
    public async Task<IReadOnlyList<ScheduleResult>> ScheduleManyAsync(string kind, IReadOnlyList<string> targetIds, string scope, string actor, ScheduleOptions options, CancellationToken cancellationToken)
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

        // A mark ends what the look-up cache remembers: forget before the marks and again once the
        // transaction is over (committed or not), so no answer read before the commit survives it.
        if (cascade.EndsRememberedLookups)
        {
            lookups.Invalidate();
        }

        using var forgetAfter = cascade.EndsRememberedLookups ? new InvalidateOnDispose(lookups) : null;
        using var turn = await database.EnterWriteQueueAsync(cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);

        // The audit chain first, before any row lock: every transaction that appends takes it first, so
        // none waits for it while holding rows another holder needs. Setting a legal hold takes it first
        // too, so a hold is either committed before the look-up below or waits for this commit.
        await database.Dialect.LockAuditChainAsync(connection, transaction, cancellationToken);
        var held = await holds.FindManyAsync(connection, transaction, kind, targetIds, scope, cancellationToken);
        var refuseAll = options.AllOrNone && held.Any(h => h is not null);
        var jobIds = new string?[targetIds.Count];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var toMark = new List<int>(targetIds.Count);
        for (var i = 0; i < targetIds.Count; i++)
        {
            if (held[i] is { } hold)
            {
                results[i] = new ScheduleResult.Held(hold.Kind, hold.Id, hold.Reason);
                continue;
            }

            if (refuseAll)
            {
                results[i] = new ScheduleResult.NotAttempted();
                continue;
            }

            // Kinds that reclaim by age do not hide their target, so the mark would pass twice.
            if (options.Cutoff is not null && !seen.Add(targetIds[i]))
            {
                results[i] = new ScheduleResult.NotFound();
                continue;
            }

            jobIds[i] = Guid.CreateVersion7().ToString();
            toMark.Add(i);
        }

        // The marks run together (PostgreSQL: one round trip for the lot); one that changes no row
        // found its target missing, already being deleted or refused by the kind's status guard.
        var marked = await database.Dialect.ExecuteEachAsync(
            connection,
            transaction,
            cascade.MarkSql,
            toMark.Select(i => (IReadOnlyList<RowParameter>)CascadeKind.Parameters(targetIds[i], scope, jobIds[i]!, options.Cutoff)).ToList(),
            cancellationToken);
        for (var m = 0; m < toMark.Count; m++)
        {
            if (marked[m] != 1)
            {
                jobIds[toMark[m]] = null;
                results[toMark[m]] = new ScheduleResult.NotFound();
            }
        }

        // One open job per age-based target: the chain lock above orders schedulers, so a job another
        // node committed meanwhile is seen here.
        if (options.Cutoff is not null && jobIds.Any(j => j is not null))
        {
            var open = await jobs.OpenTargetsAsync(connection, transaction, kind, targetIds.Where((_, i) => jobIds[i] is not null).ToList(), cancellationToken);
            for (var i = 0; i < targetIds.Count; i++)
            {
                if (jobIds[i] is not null && open.Contains(targetIds[i]))
                {
                    jobIds[i] = null;
                    results[i] = new ScheduleResult.NotFound();
                }
            }
        }

        AuditRow Entry(string action, string targetId, string? jobId, string? entryDetail) => new()
        {
            Id = Guid.CreateVersion7().ToString(),
            At = now,
            Actor = actor,
            Action = action,
            TargetKind = kind,
            TargetId = targetId,
            Scope = scope,
            JobId = jobId,
            Counts = "{}",
            Detail = entryDetail,
        };

        var newJobs = new List<DeletionJobRow>();
        var entries = new List<AuditRow>();
        var restorable = purgeAfter > now ? $"restorable until {DateTimeOffset.FromUnixTimeMilliseconds(purgeAfter):O}" : null;
        var detail = options.Note is null ? restorable : restorable is null ? options.Note : $"{options.Note}; {restorable}";
        for (var i = 0; i < targetIds.Count; i++)
        {
            if (results[i] is ScheduleResult.Held refusal)
            {
                entries.Add(Entry("deletion.refused", targetIds[i], null, refusal.Detail(kind, targetIds[i])));
            }
            else if (jobIds[i] is { } jobId)
            {
                newJobs.Add(new DeletionJobRow
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
                    Cutoff = options.Cutoff,
                    Parent = options.Parent,
                });
                entries.Add(Entry("deletion.requested", targetIds[i], jobId, detail));
                results[i] = new ScheduleResult.Scheduled(jobId);
            }
        }

        if (entries.Count > 0)
        {
            await jobs.InsertManyAsync(connection, transaction, newJobs, cancellationToken);
            await audit.AppendManyAsync(connection, transaction, entries, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            RunledgerTelemetry.DeletionsScheduled.Add(newJobs.Count, new KeyValuePair<string, object?>("kind", kind));
            if (newJobs.Count > 0)
            {
                signal.Notify();
            }
        }

        return results;
    }
}

/// <summary>How <see cref="DeletionScheduler"/> schedules a list (all optional).</summary>
/// <param name="Cutoff">For kinds that reclaim by age: rows older than this (Unix ms) are the children.</param>
/// <param name="Parent">What contains the targets below their scope (e.g. the LLM Obs project); <c>GET /runledger/v1/deletions?project=</c> filters on it.</param>
/// <param name="Note">Added to each <c>deletion.requested</c> audit entry, e.g. the retention run that asked.</param>
/// <param name="AllOrNone">When any target is held, schedule none (the others are NotAttempted): one request's refusal changes nothing.</param>
public sealed record ScheduleOptions(long? Cutoff = null, string? Parent = null, string? Note = null, bool AllOrNone = false);
