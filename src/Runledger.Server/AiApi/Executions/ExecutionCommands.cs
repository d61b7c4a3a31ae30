using Runledger.Server.Hosting;
using Runledger.Server.Lifecycle;
using Runledger.Server.Runner;
using Runledger.Storage.Executions;

namespace Runledger.Server.AiApi.Executions;

/// <summary>The outcome of a stop or delete: an error, or the deletion job that was scheduled.</summary>
public sealed record CommandOutcome(ApiError? Error, string? JobId = null);

/// <summary>
/// Stop and delete with one set of rules for the single and the bulk endpoints (the original
/// service differs between the two; we deliberately do not). Status guards are checked inside the
/// statement that changes the row, so two racing requests cannot both pass them.
/// </summary>
public sealed class ExecutionCommands(IExecutionStore store, DeletionScheduler scheduler, RunnerSignal signal, TimeProvider time)
{
    public async Task<CommandOutcome> StopAsync(string resourceGroup, string id, CancellationToken cancellationToken)
    {
        var outcome = await store.RequestStopAsync(resourceGroup, id, time.GetUtcNow().ToUnixTimeMilliseconds(), cancellationToken);
        if (outcome.Accepted)
        {
            signal.Notify();
            return new CommandOutcome(null);
        }

        return outcome.Status is null
            ? new CommandOutcome(NotFound(resourceGroup, id))
            : new CommandOutcome(new ApiError(StatusCodes.Status412PreconditionFailed, "ExecutionNotStoppable",
                $"Execution '{id}' is {outcome.Status}; only PENDING or RUNNING executions can be stopped."));
    }

    public async Task<CommandOutcome> DeleteAsync(string resourceGroup, string id, string actor, CancellationToken cancellationToken) =>
        (await DeleteManyAsync(resourceGroup, [id], actor, cancellationToken))[0];

    /// <summary>Deletes several executions with one scheduling transaction; one outcome per id, in order.</summary>
    public async Task<IReadOnlyList<CommandOutcome>> DeleteManyAsync(string resourceGroup, IReadOnlyList<string> ids, string actor, CancellationToken cancellationToken)
    {
        var results = await scheduler.ScheduleManyAsync(ExecutionCascade.Kind, ids, resourceGroup, actor, cancellationToken);
        var outcomes = new CommandOutcome[ids.Count];
        for (var i = 0; i < ids.Count; i++)
        {
            outcomes[i] = results[i] switch
            {
                ScheduleResult.Scheduled scheduled => new CommandOutcome(null, scheduled.JobId),
                ScheduleResult.Held held => new CommandOutcome(LegalHold(held, ExecutionCascade.Kind, ids[i])),
                _ => await RefusalAsync(resourceGroup, ids[i], cancellationToken),
            };
        }

        return outcomes;
    }

    /// <summary>Refused by the status guard in the marking statement, or not there: say which.</summary>
    private async Task<CommandOutcome> RefusalAsync(string resourceGroup, string id, CancellationToken cancellationToken)
    {
        var execution = await store.GetAsync(resourceGroup, id, cancellationToken);
        if (execution is null || execution.DeletingJobId is not null)
        {
            return new CommandOutcome(NotFound(resourceGroup, id));
        }

        var message = execution.Status == ExecutionStatus.Stopping
            ? $"Execution '{id}' is STOPPING; wait until it is STOPPED, then delete it."
            : $"Execution '{id}' is {execution.Status}; stop it first (PATCH /v2/lm/executions/{id} with {{\"targetStatus\":\"STOPPED\"}}) and delete it once it is STOPPED.";
        return new CommandOutcome(new ApiError(StatusCodes.Status412PreconditionFailed, "ExecutionNotDeletable", message));
    }

    /// <summary>A delete refused by a legal hold: the AI API answers 412 with a message naming the hold.</summary>
    public static ApiError LegalHold(ScheduleResult.Held held, string kind, string id) =>
        new(StatusCodes.Status412PreconditionFailed, "LegalHold", held.Detail(kind, id));

    public static ApiError NotFound(string resourceGroup, string id) =>
        ApiError.NotFound("ExecutionNotFound", $"Execution '{id}' does not exist in resource group '{resourceGroup}'.");
}

/// <summary>Deleting one execution removes its logs (and, once they exist, its metrics), then the execution.</summary>
public sealed class ExecutionCascade : ICascadeRegistration
{
    public const string Kind = "execution";

    public void Register(CascadeRegistry registry)
    {
        // The mark leaves target_status alone (readers show DELETED while deleting_job_id is set),
        // so a restore within grace brings the execution back exactly as it was.
        registry.AddKind(new CascadeKind(
            Kind,
            MarkSql: """
                UPDATE executions SET deleting_job_id = @JobId
                WHERE id = @TargetId AND resource_group = @Scope AND deleting_job_id IS NULL
                  AND status IN ('COMPLETED', 'DEAD', 'STOPPED', 'UNKNOWN')
                """,
            FinishSql: "DELETE FROM executions WHERE id = @TargetId AND deleting_job_id = @JobId")
        {
            RestoreSql = "UPDATE executions SET deleting_job_id = NULL WHERE id = @TargetId AND resource_group = @Scope AND deleting_job_id = @JobId",
            AncestorsSql = "SELECT 'resource_group' AS kind, @Scope AS id",
            ExistsSql = "SELECT COUNT(*) FROM executions WHERE id = @TargetId AND resource_group = @Scope AND deleting_job_id IS NULL",

            // A single training run may be held too; its group then cannot be deleted either.
            Holdable = true,
        });
        registry.AddChild(new CascadeChild(Kind, "execution_logs", "execution_logs", "execution_id = @TargetId", Order: 10));
    }
}
