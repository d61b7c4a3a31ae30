using System.Data.Common;
using System.Globalization;
using Dapper;
using Runledger.Storage.Audit;

namespace Runledger.Storage.Lifecycle;

public sealed class RetentionPolicyRow
{
    public required string ScopeKind { get; init; }
    public required string ScopeId { get; init; }
    public required string Policy { get; init; }
    public long Days { get; init; }
    public required string UpdatedBy { get; init; }
    public long UpdatedAt { get; init; }
}

public interface IRetentionPolicyStore
{
    /// <summary>Sets or replaces a policy with a <c>retention.policy_set</c> audit entry in the same transaction; true when it is new.</summary>
    Task<bool> PutAsync(RetentionPolicyRow row, CancellationToken cancellationToken);

    /// <summary>Clears a policy with a <c>retention.policy_cleared</c> audit entry in the same transaction; false when there was none.</summary>
    Task<bool> DeleteAsync(string scopeKind, string scopeId, string policy, string actor, long now, CancellationToken cancellationToken);

    /// <summary>All policies, or those of one scope.</summary>
    Task<IReadOnlyList<RetentionPolicyRow>> ListAsync(string? scopeKind, string? scopeId, CancellationToken cancellationToken);
}

public sealed class RetentionPolicyStore(IDatabase database, IAuditStore audit) : IRetentionPolicyStore
{
    private const string Columns = "scope_kind, scope_id, policy, days, updated_by, updated_at";

    public async Task<bool> PutAsync(RetentionPolicyRow row, CancellationToken cancellationToken)
    {
        using var turn = await database.EnterWriteQueueAsync(cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        await database.Dialect.LockAuditChainAsync(connection, transaction, cancellationToken);
        var removed = await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM retention_policies WHERE scope_kind = @ScopeKind AND scope_id = @ScopeId AND policy = @Policy", row, transaction, cancellationToken: cancellationToken));
        await connection.ExecuteAsync(new CommandDefinition(
            $"INSERT INTO retention_policies ({Columns}) VALUES (@ScopeKind, @ScopeId, @Policy, @Days, @UpdatedBy, @UpdatedAt)", row, transaction, cancellationToken: cancellationToken));
        await AuditAsync(connection, transaction, "retention.policy_set", row.ScopeKind, row.ScopeId, row.UpdatedBy, row.UpdatedAt,
            string.Create(CultureInfo.InvariantCulture, $"{row.Policy}: older than {row.Days} days"), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return removed == 0;
    }

    public async Task<bool> DeleteAsync(string scopeKind, string scopeId, string policy, string actor, long now, CancellationToken cancellationToken)
    {
        using var turn = await database.EnterWriteQueueAsync(cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        await database.Dialect.LockAuditChainAsync(connection, transaction, cancellationToken);
        var days = await connection.QuerySingleOrDefaultAsync<long?>(new CommandDefinition(
            "SELECT days FROM retention_policies WHERE scope_kind = @scopeKind AND scope_id = @scopeId AND policy = @policy",
            new { scopeKind, scopeId, policy }, transaction, cancellationToken: cancellationToken));
        if (days is null)
        {
            return false;
        }

        await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM retention_policies WHERE scope_kind = @scopeKind AND scope_id = @scopeId AND policy = @policy",
            new { scopeKind, scopeId, policy }, transaction, cancellationToken: cancellationToken));
        await AuditAsync(connection, transaction, "retention.policy_cleared", scopeKind, scopeId, actor, now,
            string.Create(CultureInfo.InvariantCulture, $"{policy}: was older than {days} days"), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    private Task AuditAsync(DbConnection connection, DbTransaction transaction, string action, string scopeKind, string scopeId, string actor, long now, string detail, CancellationToken cancellationToken) =>
        audit.AppendAsync(connection, transaction, new AuditRow
        {
            Id = Guid.CreateVersion7().ToString(),
            At = now,
            Actor = actor,
            Action = action,
            TargetKind = scopeKind,
            TargetId = scopeId,
            Scope = scopeId,
            Counts = "{}",
            Detail = detail,
        }, cancellationToken);

    public async Task<IReadOnlyList<RetentionPolicyRow>> ListAsync(string? scopeKind, string? scopeId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<RetentionPolicyRow>(new CommandDefinition(
            $"""
            SELECT {Columns} FROM retention_policies
            WHERE (@scopeKind IS NULL OR scope_kind = @scopeKind) AND (@scopeId IS NULL OR scope_id = @scopeId)
            ORDER BY scope_kind, scope_id, policy
            """,
            new { scopeKind, scopeId }, cancellationToken: cancellationToken));
        return rows.AsList();
    }
}
