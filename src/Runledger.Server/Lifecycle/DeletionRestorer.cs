using Dapper;
using Runledger.Storage;
using Runledger.Storage.Audit;
using Runledger.Storage.Lifecycle;

namespace Runledger.Server.Lifecycle;

public abstract record RestoreResult
{
    public sealed record Restored(DeletionJobRow Job) : RestoreResult;

    public sealed record NotFound : RestoreResult;

    /// <summary>The job exists but cannot be undone; <paramref name="Code"/> says why (for scripts), the message what to do.</summary>
    public sealed record Refused(string Code, string Message) : RestoreResult;
}

/// <summary>
/// Undoes a deletion within grace: in ONE transaction, marks the job restored (only while it is
/// queued, never started and before purge_after), runs the kind's RestoreSql (the children were
/// never touched, so the target comes back exactly as it was) and writes <c>deletion.restored</c>.
/// </summary>
public sealed class DeletionRestorer(IDatabase database, CascadeRegistry registry, IDeletionJobStore jobs, IAuditStore audit, TimeProvider time)
{
    public async Task<RestoreResult> RestoreAsync(string jobId, string actor, CancellationToken cancellationToken)
    {
        using var turn = await database.EnterWriteQueueAsync(cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);

        // The audit chain before any row lock, as every transaction that appends takes it.
        await database.Dialect.LockAuditChainAsync(connection, transaction, cancellationToken);
        var job = await jobs.GetAsync(connection, transaction, jobId, cancellationToken);
        if (job is null)
        {
            return new RestoreResult.NotFound();
        }

        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var cascade = registry.IsKnown(job.Kind) ? registry.Kind(job.Kind) : null;
        if (Refusal(job, cascade, now) is { } refused)
        {
            return refused;
        }

        var parameters = new { job.TargetId, job.Scope, JobId = job.Id, job.Cutoff };
        if (cascade!.NameTakenSql is { } nameTaken
            && await connection.ExecuteScalarAsync<long>(new CommandDefinition(nameTaken, parameters, transaction, cancellationToken: cancellationToken)) > 0)
        {
            return new RestoreResult.Refused("NameReused",
                $"The {job.Kind} '{job.TargetId}' cannot be restored: its name was given to a new {job.Kind} after the deletion; delete or rename that one first.");
        }

        if (!await jobs.MarkRestoredAsync(connection, transaction, job.Id, now, cancellationToken))
        {
            // A worker claimed it, or grace ended, between our read and the update.
            return new RestoreResult.Refused("ReclaimStarted", $"Deletion job '{job.Id}' started reclaiming {job.Kind} '{job.TargetId}' just now; it can no longer be restored.");
        }

        var restored = await connection.ExecuteAsync(new CommandDefinition(cascade.RestoreSql!, parameters, transaction, cancellationToken: cancellationToken));
        if (restored != 1)
        {
            // Rolled back on dispose: the job stays queued and will purge what is left.
            return new RestoreResult.Refused("TargetGone",
                $"The {job.Kind} '{job.TargetId}' of deletion job '{job.Id}' no longer exists (a deletion of what contained it removed it); nothing can be restored.");
        }

        await audit.AppendAsync(connection, transaction, new AuditRow
        {
            Id = Guid.CreateVersion7().ToString(),
            At = now,
            Actor = actor,
            Action = "deletion.restored",
            TargetKind = job.Kind,
            TargetId = job.TargetId,
            Scope = job.Scope,
            JobId = job.Id,
            Counts = "{}",
            Detail = $"requested by {job.RequestedBy} at {DateTimeOffset.FromUnixTimeMilliseconds(job.RequestedAt):O}",
        }, cancellationToken);
        var after = await jobs.GetAsync(connection, transaction, job.Id, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new RestoreResult.Restored(after!);
    }

    private static RestoreResult.Refused? Refusal(DeletionJobRow job, CascadeKind? cascade, long now)
    {
        if (cascade?.RestoreSql is null)
        {
            return new("NotRestorable", $"Deletions of kind '{job.Kind}' cannot be restored (the kind declares no restore).");
        }

        if (job.State == JobStates.Restored)
        {
            return new("AlreadyRestored", $"Deletion job '{job.Id}' was already restored.");
        }

        if (job.State != JobStates.Queued || job.StartedAt is not null)
        {
            return new("ReclaimStarted", $"Deletion job '{job.Id}' is {job.State} and has started reclaiming {job.Kind} '{job.TargetId}'; it can no longer be restored.");
        }

        if (now >= job.PurgeAfter)
        {
            var grace = TimeSpan.FromMilliseconds(job.PurgeAfter - job.RequestedAt);
            return new("GraceEnded", job.PurgeAfter == job.RequestedAt
                ? $"Deletion job '{job.Id}' had no grace period ({job.Kind} is reclaimed at once; set Lifecycle:Grace:{job.Kind} to make later deletions restorable)."
                : $"The grace period of deletion job '{job.Id}' ({grace}) ended at {DateTimeOffset.FromUnixTimeMilliseconds(job.PurgeAfter):O}; it can no longer be restored.");
        }

        return null;
    }
}
