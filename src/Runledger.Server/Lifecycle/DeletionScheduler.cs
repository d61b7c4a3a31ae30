using Dapper;
using Runledger.Server.Hosting;
using Runledger.Storage;
using Runledger.Storage.Audit;
using Runledger.Storage.Lifecycle;

namespace Runledger.Server.Lifecycle;

public abstract record ScheduleResult
{
    public sealed record Scheduled(string JobId) : ScheduleResult;

    /// <summary>The target does not exist or is already being deleted.</summary>
    public sealed record NotFound : ScheduleResult;
}

/// <summary>Wakes the local deletion worker when a job is scheduled, so it starts at once instead of at the next poll.</summary>
public sealed class JobSignal : WakeSignal;

/// <summary>
/// Step 1 of the lifecycle: in ONE transaction, hide the target from readers, write the durable
/// job and the audit entry. The caller answers the client right after; the worker does the rest.
/// </summary>
public sealed class DeletionScheduler(IDatabase database, CascadeRegistry registry, IDeletionJobStore jobs, IAuditStore audit, JobSignal signal, TimeProvider time)
{
    public async Task<ScheduleResult> ScheduleAsync(string kind, string targetId, string scope, string actor, CancellationToken cancellationToken) =>
        (await ScheduleManyAsync(kind, [targetId], scope, actor, cancellationToken))[0];

    /// <summary>
    /// Schedules the deletion of several targets of one kind in ONE transaction (one job and one
    /// audit entry each): a bulk request costs one commit, not one per item. Results are in the
    /// order of <paramref name="targetIds"/>; a target that is missing or already being deleted is NotFound.
    /// </summary>
    public async Task<IReadOnlyList<ScheduleResult>> ScheduleManyAsync(string kind, IReadOnlyList<string> targetIds, string scope, string actor, CancellationToken cancellationToken)
    {
        var cascade = registry.Kind(kind);
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var results = new ScheduleResult[targetIds.Count];
        if (targetIds.Count == 0)
        {
            return results;
        }

        using var turn = await database.EnterWriteQueueAsync(cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        for (var i = 0; i < targetIds.Count; i++)
        {
            var jobId = Guid.CreateVersion7().ToString();
            var marked = await connection.ExecuteAsync(new CommandDefinition(
                cascade.MarkSql, new { TargetId = targetIds[i], Scope = scope, JobId = jobId }, transaction, cancellationToken: cancellationToken));
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
            }, cancellationToken);
            results[i] = new ScheduleResult.Scheduled(jobId);
        }

        if (results.Any(r => r is ScheduleResult.Scheduled))
        {
            await transaction.CommitAsync(cancellationToken);
            signal.Notify();
        }

        return results;
    }
}
