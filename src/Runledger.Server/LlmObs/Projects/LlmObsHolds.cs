using Dapper;
using Runledger.Server.Hosting;
using Runledger.Server.Lifecycle;
using Runledger.Storage;
using Runledger.Storage.Audit;

namespace Runledger.Server.LlmObs.Projects;

/// <summary>
/// Legal holds for LLM Obs deletes. A request that would delete anything held — a held project or
/// dataset, a dataset or experiment inside a held project, a project containing a held dataset — is
/// refused AS A WHOLE before anything is scheduled: 403 whose detail names the hold, one
/// <c>deletion.refused</c> audit entry per held id, and nothing else changes. The scheduler checks
/// holds again in its own transaction (a hold set in between still wins for that id).
/// </summary>
public sealed class LlmObsHolds(IDatabase database, CascadeRegistry registry, HoldChecker holds, IAuditStore audit, TimeProvider time)
{
    /// <summary>
    /// The 403 to answer when any of <paramref name="ids"/> (of <paramref name="kind"/>, in the
    /// organisation <paramref name="scope"/>) may not be deleted; null when none is held.
    /// </summary>
    public async Task<ApiError?> RefusalAsync(string kind, IReadOnlyList<string> ids, string scope, string actor, CancellationToken cancellationToken) =>
        (await CheckAsync(kind, ids, scope, actor, cancellationToken)).Refusal;

    /// <summary>
    /// As <see cref="RefusalAsync"/>, and the ids to schedule: while any hold exists, only the ids the
    /// organisation can see (the kind's ExistsSql), so the scheduler's own hold check never answers
    /// for another organisation's target — its hold is not revealed, its id is ignored as the
    /// delete ignores unknown ids.
    /// </summary>
    public async Task<(ApiError? Refusal, IReadOnlyList<string> Ids)> CheckAsync(string kind, IReadOnlyList<string> ids, string scope, string actor, CancellationToken cancellationToken)
    {
        if (ids.Count == 0)
        {
            return (null, ids);
        }

        var cascade = registry.Kind(kind);
        var visible = new List<string>(ids.Count);
        var held = new List<(string Id, HoldRef Hold)>();
        await using (var connection = await database.OpenAsync(cancellationToken))
        {
            // The common case costs one count: no holds at all.
            if (await connection.ExecuteScalarAsync<long>(new CommandDefinition("SELECT COUNT(*) FROM legal_holds", cancellationToken: cancellationToken)) == 0)
            {
                return (null, ids);
            }

            foreach (var id in ids.Distinct(StringComparer.Ordinal))
            {
                if (cascade.ExistsSql is { } exists
                    && await connection.ExecuteScalarAsync<long>(new CommandDefinition(exists, new { TargetId = id, Scope = scope }, cancellationToken: cancellationToken)) == 0)
                {
                    continue;
                }

                visible.Add(id);
                if (await holds.FindAsync(connection, null, kind, id, scope, cancellationToken) is { } hold)
                {
                    held.Add((id, hold));
                }
            }
        }

        if (held.Count == 0)
        {
            return (null, visible);
        }

        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        using (await database.EnterWriteQueueAsync(cancellationToken))
        {
            await using var connection = await database.OpenAsync(cancellationToken);
            await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
            foreach (var (id, hold) in held)
            {
                await audit.AppendAsync(connection, transaction, new AuditRow
                {
                    Id = Guid.CreateVersion7().ToString(),
                    At = now,
                    Actor = actor,
                    Action = "deletion.refused",
                    TargetKind = kind,
                    TargetId = id,
                    Scope = scope,
                    Counts = "{}",
                    Detail = hold.Detail(kind, id),
                }, cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
        }

        return (Forbidden(held[0].Hold.Detail(kind, held[0].Id)), []);
    }

    /// <summary>The refusal of a scheduled delete that met a hold after <see cref="RefusalAsync"/> passed (a hold set in between).</summary>
    public static ApiError? Refusal(string kind, IReadOnlyList<string> ids, IReadOnlyList<ScheduleResult> results)
    {
        for (var i = 0; i < results.Count; i++)
        {
            if (results[i] is ScheduleResult.Held held)
            {
                return Forbidden(held.Detail(kind, ids[i]));
            }
        }

        return null;
    }

    /// <summary>LLM Obs answers a delete refused by a legal hold with 403 and a detail naming the hold.</summary>
    public static ApiError Forbidden(string detail) => new(StatusCodes.Status403Forbidden, "LegalHold", detail);
}
