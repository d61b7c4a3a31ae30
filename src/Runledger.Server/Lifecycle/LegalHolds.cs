using System.Data.Common;
using Dapper;
using Runledger.Storage;
using Runledger.Storage.Audit;
using Runledger.Storage.Lifecycle;

namespace Runledger.Server.Lifecycle;

/// <summary>The hold that forbids a delete, as dialect endpoints render it.</summary>
public sealed record HoldRef(string Kind, string Id, string Scope, string Reason)
{
    public string Detail(string targetKind, string targetId) => Detail(Kind, Id, Reason, targetKind, targetId);

    /// <summary>The error detail every dialect uses: names the hold, its reason and how to clear it.</summary>
    public static string Detail(string holdKind, string holdId, string reason, string targetKind, string targetId) =>
        (holdKind == targetKind && holdId == targetId
            ? $"The {targetKind} '{targetId}' is under legal hold"
            : $"The {targetKind} '{targetId}' cannot be deleted: the {holdKind} '{holdId}' is under legal hold")
        + $" (reason: {reason}); clear the hold with DELETE /runledger/v1/holds/{holdKind}/{holdId} before deleting.";
}

public sealed class HoldChecker(CascadeRegistry registry, IHoldStore holds)
{
    /// <summary>
    /// The hold that forbids each target, in the order of <paramref name="targetIds"/> (null: none). One
    /// query when no hold exists at all (the usual case); otherwise one look-up per target.
    /// </summary>
    public async Task<HoldRef?[]> FindManyAsync(DbConnection connection, DbTransaction? transaction, string kind, IReadOnlyList<string> targetIds, string scope, CancellationToken cancellationToken)
    {
        var found = new HoldRef?[targetIds.Count];
        if (targetIds.Count == 0 || !await holds.AnyAsync(connection, transaction, cancellationToken))
        {
            return found;
        }

        for (var i = 0; i < targetIds.Count; i++)
        {
            found[i] = await FindAsync(connection, transaction, kind, targetIds[i], scope, cancellationToken);
        }

        return found;
    }

    public async Task<HoldRef?> FindAsync(DbConnection connection, DbTransaction? transaction, string kind, string targetId, string scope, CancellationToken cancellationToken)
    {
        var row = await holds.FindBlockingAsync(
            connection, transaction, kind, targetId, registry.Kind(kind).AncestorsSql, new { TargetId = targetId, Scope = scope }, cancellationToken);
        return row is null ? null : new HoldRef(row.Kind, row.TargetId, row.Scope, row.Reason);
    }
}

public abstract record HoldResult
{
    public sealed record Placed(HoldRow Hold, bool Created) : HoldResult;

    public sealed record NotHoldable(string Message) : HoldResult;

    public sealed record TargetNotFound : HoldResult;
}

/// <summary>Sets and clears legal holds; each change is an audit entry in the same transaction.</summary>
public sealed class LegalHolds(IDatabase database, CascadeRegistry registry, IHoldStore holds, IAuditStore audit, TimeProvider time)
{
    public IReadOnlyList<string> HoldableKinds => registry.KindNames.Where(k => registry.Kind(k).Holdable).ToList();

    public async Task<HoldResult> SetAsync(string kind, string targetId, string scope, string reason, string actor, CancellationToken cancellationToken)
    {
        if (!registry.IsKnown(kind) || !registry.Kind(kind).Holdable || registry.Kind(kind).ExistsSql is null)
        {
            return new HoldResult.NotHoldable($"Kind '{kind}' cannot be put on hold; holdable kinds: {string.Join(", ", HoldableKinds)}.");
        }

        var cascade = registry.Kind(kind);
        var parameters = new { TargetId = targetId, Scope = scope };
        using var turn = await database.EnterWriteQueueAsync(cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        await LockAsync(connection, transaction, cancellationToken);
        if (await connection.ExecuteScalarAsync<long>(new CommandDefinition(cascade.ExistsSql!, parameters, transaction, cancellationToken: cancellationToken)) == 0)
        {
            return new HoldResult.TargetNotFound();
        }

        var path = new List<(string Kind, string Id)> { (kind, targetId) };
        if (cascade.AncestorsSql is { } ancestors)
        {
            path.AddRange(await connection.QueryAsync<(string Kind, string Id)>(new CommandDefinition(ancestors, parameters, transaction, cancellationToken: cancellationToken)));
        }

        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var hold = new HoldRow { Kind = kind, TargetId = targetId, Scope = scope, Reason = reason, HeldBy = actor, HeldAt = now };
        var created = await holds.PutAsync(connection, transaction, hold, path, cancellationToken);
        await AuditAsync(connection, transaction, "hold.set", hold, actor, now, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new HoldResult.Placed(hold, created);
    }

    /// <summary>Clears a hold; null when there was none.</summary>
    public async Task<HoldRow?> ClearAsync(string kind, string targetId, string actor, CancellationToken cancellationToken)
    {
        using var turn = await database.EnterWriteQueueAsync(cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        await LockAsync(connection, transaction, cancellationToken);
        var removed = await holds.DeleteAsync(connection, transaction, kind, targetId, cancellationToken);
        if (removed is not null)
        {
            await AuditAsync(connection, transaction, "hold.cleared", removed, actor, time.GetUtcNow().ToUnixTimeMilliseconds(), cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }

        return removed;
    }

    /// <summary>
    /// The hold lock (cascade batches share it; they wait for this commit and then see the hold), then the
    /// audit chain (schedulers take it first: a delete is marked either before this check or after this
    /// hold, never between), both before any row lock.
    /// </summary>
    private async Task LockAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken)
    {
        await database.Dialect.LockHoldsAsync(connection, transaction, exclusive: true, cancellationToken);
        await database.Dialect.LockAuditChainAsync(connection, transaction, cancellationToken);
    }

    private Task AuditAsync(DbConnection connection, DbTransaction transaction, string action, HoldRow hold, string actor, long now, CancellationToken cancellationToken) =>
        audit.AppendAsync(connection, transaction, new AuditRow
        {
            Id = Guid.CreateVersion7().ToString(),
            At = now,
            Actor = actor,
            Action = action,
            TargetKind = hold.Kind,
            TargetId = hold.TargetId,
            Scope = hold.Scope,
            Counts = "{}",
            Detail = hold.Reason,
        }, cancellationToken);
}
