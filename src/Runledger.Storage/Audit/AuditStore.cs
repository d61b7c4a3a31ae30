using System.Data.Common;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Dapper;

namespace Runledger.Storage.Audit;

public sealed class AuditRow
{
    public long Seq { get; init; }
    public required string Id { get; init; }
    public long At { get; init; }

    /// <summary>The credential id that asked (never a secret), or <c>system</c> for the engine itself.</summary>
    public required string Actor { get; init; }

    /// <summary>e.g. <c>deletion.requested</c>, <c>deletion.finished</c>, <c>deletion.refused</c>.</summary>
    public required string Action { get; init; }

    public required string TargetKind { get; init; }
    public required string TargetId { get; init; }
    public required string Scope { get; init; }
    public string? JobId { get; init; }

    /// <summary>JSON object of counts (rows removed per child kind), or <c>{}</c>.</summary>
    public required string Counts { get; init; }

    public string? Detail { get; init; }
    public string PrevHash { get; init; } = "";
    public string Hash { get; init; } = "";
}

/// <summary>Filters of the audit log, oldest first; <paramref name="AfterSeq"/> is the cursor. <paramref name="From"/>/<paramref name="To"/> are unix ms, <paramref name="To"/> exclusive.</summary>
public sealed record AuditQuery(
    string? TargetKind = null,
    string? TargetId = null,
    string? JobId = null,
    long AfterSeq = 0,
    int Limit = 100,
    string? Action = null,
    string? Actor = null,
    long? From = null,
    long? To = null);

/// <summary>The outcome of checking the whole chain: the first entry that does not fit, if any.</summary>
public sealed record AuditVerification(bool Ok, long Entries, long? FirstBadSeq, string Detail);

public interface IAuditStore
{
    /// <summary>Appends inside the caller's transaction, so the entry commits with what it describes.</summary>
    Task AppendAsync(DbConnection connection, DbTransaction transaction, AuditRow entry, CancellationToken cancellationToken);

    Task<IReadOnlyList<AuditRow>> ListAsync(AuditQuery query, CancellationToken cancellationToken);

    /// <summary>Every matching entry in order, read page by page so an export of any size holds one page in memory.</summary>
    IAsyncEnumerable<AuditRow> ReadAllAsync(AuditQuery query, CancellationToken cancellationToken);

    /// <summary>Recomputes every hash from the first entry on and checks each links to the one before.</summary>
    Task<AuditVerification> VerifyAsync(CancellationToken cancellationToken);
}

public sealed class AuditStore(IDatabase database) : IAuditStore
{
    private const int PageSize = 1000;
    private const string Columns = "seq, id, at, actor, action, target_kind, target_id, scope, job_id, counts, detail, prev_hash, hash";

    public async Task AppendAsync(DbConnection connection, DbTransaction transaction, AuditRow entry, CancellationToken cancellationToken)
    {
        await database.Dialect.LockAuditChainAsync(connection, transaction, cancellationToken);
        var previous = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1", transaction: transaction, cancellationToken: cancellationToken)) ?? "";
        var chained = new AuditRow
        {
            Id = entry.Id,
            At = entry.At,
            Actor = entry.Actor,
            Action = entry.Action,
            TargetKind = entry.TargetKind,
            TargetId = entry.TargetId,
            Scope = entry.Scope,
            JobId = entry.JobId,
            Counts = entry.Counts,
            Detail = entry.Detail,
            PrevHash = previous,
            Hash = ComputeHash(previous, entry),
        };
        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO audit_log (id, at, actor, action, target_kind, target_id, scope, job_id, counts, detail, prev_hash, hash) VALUES (@Id, @At, @Actor, @Action, @TargetKind, @TargetId, @Scope, @JobId, @Counts, @Detail, @PrevHash, @Hash)",
            chained, transaction, cancellationToken: cancellationToken));
    }

    public async Task<IReadOnlyList<AuditRow>> ListAsync(AuditQuery query, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<AuditRow>(new CommandDefinition(
            $"""
            SELECT {Columns} FROM audit_log
            WHERE seq > @AfterSeq AND (@TargetKind IS NULL OR target_kind = @TargetKind)
              AND (@TargetId IS NULL OR target_id = @TargetId) AND (@JobId IS NULL OR job_id = @JobId)
              AND (@Action IS NULL OR action = @Action) AND (@Actor IS NULL OR actor = @Actor)
              AND (@From IS NULL OR at >= @From) AND (@To IS NULL OR at < @To)
            ORDER BY seq
            LIMIT @Limit
            """,
            query, cancellationToken: cancellationToken));
        return rows.AsList();
    }

    public async IAsyncEnumerable<AuditRow> ReadAllAsync(AuditQuery query, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var page = query with { Limit = PageSize };
        while (true)
        {
            var rows = await ListAsync(page, cancellationToken);
            foreach (var row in rows)
            {
                yield return row;
            }

            if (rows.Count < PageSize)
            {
                yield break;
            }

            page = page with { AfterSeq = rows[^1].Seq };
        }
    }

    public async Task<AuditVerification> VerifyAsync(CancellationToken cancellationToken)
    {
        var previous = "";
        var count = 0L;
        (long Seq, string Detail)? bad = null;
        await foreach (var row in ReadAllAsync(new AuditQuery(), cancellationToken))
        {
            count++;
            if (bad is not null)
            {
                continue;
            }

            if (row.PrevHash != previous)
            {
                bad = (row.Seq, $"Entry {row.Seq} names {Short(row.PrevHash)} as the previous hash, but the entry before it hashes to {Short(previous)}: an entry before it was changed, removed or inserted.");
            }
            else if (row.Hash != ComputeHash(previous, row))
            {
                bad = (row.Seq, $"Entry {row.Seq} ({row.Action} {row.TargetKind} {row.TargetId}) does not match its stored hash: its fields were changed after it was written.");
            }

            previous = row.Hash;
        }

        return bad is { } found
            ? new AuditVerification(false, count, found.Seq, found.Detail)
            : new AuditVerification(true, count, null, count == 0 ? "The audit log is empty." : $"All {count} entries link up; the last hash is {previous}.");

        static string Short(string hash) => hash.Length == 0 ? "nothing (the first entry)" : $"'{hash[..Math.Min(12, hash.Length)]}…'";
    }

    /// <summary>SHA-256 over the previous hash and every field of the entry, so any edit breaks the chain.</summary>
    public static string ComputeHash(string previousHash, AuditRow entry)
    {
        var canonical = string.Join('\u001f',
            previousHash, entry.Id, entry.At.ToString(CultureInfo.InvariantCulture), entry.Actor, entry.Action,
            entry.TargetKind, entry.TargetId, entry.Scope, entry.JobId ?? "", entry.Counts, entry.Detail ?? "");
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
    }
}
