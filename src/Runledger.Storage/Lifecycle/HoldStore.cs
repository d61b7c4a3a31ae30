using System.Data.Common;
using Dapper;

namespace Runledger.Storage.Lifecycle;

public sealed class HoldRow
{
    public required string Kind { get; init; }
    public required string TargetId { get; init; }
    public required string Scope { get; init; }
    public required string Reason { get; init; }
    public required string HeldBy { get; init; }
    public long HeldAt { get; init; }
}

/// <summary>Legal holds and, per hold, the path of (kind, id) whose deletion would remove the held target.</summary>
public interface IHoldStore
{
    /// <summary>
    /// The first hold that forbids deleting (<paramref name="kind"/>, <paramref name="targetId"/>): one on
    /// the target, on something it contains (its path names the target), or on one of the rows
    /// <paramref name="ancestorsSql"/> returns as (kind, id). Runs in the caller's transaction when given.
    /// </summary>
    Task<HoldRow?> FindBlockingAsync(DbConnection connection, DbTransaction? transaction, string kind, string targetId, string? ancestorsSql, object parameters, CancellationToken cancellationToken);

    /// <summary>Sets or replaces the hold, with its path (the target and its ancestors). True when it is new.</summary>
    Task<bool> PutAsync(DbConnection connection, DbTransaction transaction, HoldRow hold, IReadOnlyList<(string Kind, string Id)> path, CancellationToken cancellationToken);

    Task<HoldRow?> DeleteAsync(DbConnection connection, DbTransaction transaction, string kind, string targetId, CancellationToken cancellationToken);

    Task<IReadOnlyList<HoldRow>> ListAsync(CancellationToken cancellationToken);

    /// <summary>Whether any hold exists; when none does, nothing is held and per-target look-ups can be skipped.</summary>
    Task<bool> AnyAsync(DbConnection connection, DbTransaction? transaction, CancellationToken cancellationToken);
}

public sealed class HoldStore(IDatabase database) : IHoldStore
{
    private const string Columns = "kind, target_id, scope, reason, held_by, held_at";

    public Task<HoldRow?> FindBlockingAsync(DbConnection connection, DbTransaction? transaction, string kind, string targetId, string? ancestorsSql, object parameters, CancellationToken cancellationToken)
    {
        var args = new DynamicParameters(parameters);
        args.Add("HoldTargetKind", kind);
        args.Add("HoldTargetId", targetId);
        var inside = ancestorsSql is null ? "" : $" OR EXISTS (SELECT 1 FROM ({ancestorsSql}) a WHERE a.kind = h.kind AND a.id = h.target_id)";
        return connection.QueryFirstOrDefaultAsync<HoldRow>(new CommandDefinition(
            $"""
            SELECT {Columns} FROM legal_holds h
            WHERE EXISTS (SELECT 1 FROM legal_hold_paths p
                          WHERE p.kind = @HoldTargetKind AND p.id = @HoldTargetId AND p.hold_kind = h.kind AND p.hold_id = h.target_id){inside}
            ORDER BY h.held_at, h.kind, h.target_id
            LIMIT 1
            """,
            args, transaction, cancellationToken: cancellationToken));
    }

    public async Task<bool> PutAsync(DbConnection connection, DbTransaction transaction, HoldRow hold, IReadOnlyList<(string Kind, string Id)> path, CancellationToken cancellationToken)
    {
        var existed = await DeleteAsync(connection, transaction, hold.Kind, hold.TargetId, cancellationToken) is not null;
        await connection.ExecuteAsync(new CommandDefinition(
            $"INSERT INTO legal_holds ({Columns}) VALUES (@Kind, @TargetId, @Scope, @Reason, @HeldBy, @HeldAt)", hold, transaction, cancellationToken: cancellationToken));
        foreach (var (kind, id) in path.Distinct())
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO legal_hold_paths (kind, id, hold_kind, hold_id) VALUES (@kind, @id, @holdKind, @holdId)",
                new { kind, id, holdKind = hold.Kind, holdId = hold.TargetId }, transaction, cancellationToken: cancellationToken));
        }

        return !existed;
    }

    public async Task<HoldRow?> DeleteAsync(DbConnection connection, DbTransaction transaction, string kind, string targetId, CancellationToken cancellationToken)
    {
        var existing = await connection.QuerySingleOrDefaultAsync<HoldRow>(new CommandDefinition(
            $"SELECT {Columns} FROM legal_holds WHERE kind = @kind AND target_id = @targetId", new { kind, targetId }, transaction, cancellationToken: cancellationToken));
        if (existing is null)
        {
            return null;
        }

        await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM legal_hold_paths WHERE hold_kind = @kind AND hold_id = @targetId", new { kind, targetId }, transaction, cancellationToken: cancellationToken));
        await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM legal_holds WHERE kind = @kind AND target_id = @targetId", new { kind, targetId }, transaction, cancellationToken: cancellationToken));
        return existing;
    }

    public async Task<bool> AnyAsync(DbConnection connection, DbTransaction? transaction, CancellationToken cancellationToken) =>
        await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT COUNT(*) FROM (SELECT 1 FROM legal_holds LIMIT 1) h", transaction: transaction, cancellationToken: cancellationToken)) > 0;

    public async Task<IReadOnlyList<HoldRow>> ListAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<HoldRow>(new CommandDefinition(
            $"SELECT {Columns} FROM legal_holds ORDER BY held_at, kind, target_id", cancellationToken: cancellationToken));
        return rows.AsList();
    }
}
