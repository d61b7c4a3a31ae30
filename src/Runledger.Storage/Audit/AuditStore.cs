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

    /// <summary>Appends several entries in order with one multi-row insert, inside the caller's transaction.</summary>
    Task AppendManyAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<AuditRow> entries, CancellationToken cancellationToken);

    Task<IReadOnlyList<AuditRow>> ListAsync(AuditQuery query, CancellationToken cancellationToken);

    /// <summary>Every matching entry in order, read page by page so an export of any size holds one page in memory.</summary>
    IAsyncEnumerable<AuditRow> ReadAllAsync(AuditQuery query, CancellationToken cancellationToken);

    /// <summary>
    /// Recomputes every hash from the first entry on and checks each links to the one before, and that
    /// the last one is the entry the anchor (<c>audit_head</c>) names, so a cut tail is found too.
    /// </summary>
    Task<AuditVerification> VerifyAsync(CancellationToken cancellationToken);
}

public sealed class AuditStore(IDatabase database) : IAuditStore
{
    private const int PageSize = 1000;
    private const string Columns = "seq, id, at, actor, action, target_kind, target_id, scope, job_id, counts, detail, prev_hash, hash";

    private static readonly string[] InsertColumns = ["id", "at", "actor", "action", "target_kind", "target_id", "scope", "job_id", "counts", "detail", "prev_hash", "hash"];

    public Task AppendAsync(DbConnection connection, DbTransaction transaction, AuditRow entry, CancellationToken cancellationToken) =>
        AppendManyAsync(connection, transaction, [entry], cancellationToken);

    public async Task AppendManyAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<AuditRow> entries, CancellationToken cancellationToken)
    {
        if (entries.Count == 0)
        {
            return;
        }

        await database.Dialect.LockAuditChainAsync(connection, transaction, cancellationToken);
        var head = await connection.QuerySingleOrDefaultAsync<AuditHead>(new CommandDefinition(
            "SELECT seq, hash FROM audit_head WHERE id = 1", transaction: transaction, cancellationToken: cancellationToken));
        var previous = head?.Hash ?? "";
        var lastSeq = head?.Seq ?? 0;
        var rows = new List<object?[]>(entries.Count);
        foreach (var entry in entries)
        {
            var hash = ComputeHash(previous, entry);
            rows.Add([entry.Id, entry.At, entry.Actor, entry.Action, entry.TargetKind, entry.TargetId, entry.Scope, entry.JobId, entry.Counts, entry.Detail, previous, hash]);
            previous = hash;
        }

        // Rows get their seq in order; the largest is the new head.
        lastSeq = Math.Max(lastSeq, await database.Dialect.InsertRowsAsync(connection, transaction, "audit_log", InsertColumns, rows, returning: "seq", cancellationToken));

        var anchor = new { seq = lastSeq, hash = previous };
        if (head is null)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO audit_head (id, seq, hash) VALUES (1, @seq, @hash)", anchor, transaction, cancellationToken: cancellationToken));
        }
        else
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE audit_head SET seq = @seq, hash = @hash WHERE id = 1", anchor, transaction, cancellationToken: cancellationToken));
        }
    }

    private sealed record AuditHead(long Seq, string Hash);

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
        AuditHead? head;
        await using (var connection = await database.OpenAsync(cancellationToken))
        {
            head = await connection.QuerySingleOrDefaultAsync<AuditHead>(new CommandDefinition(
                "SELECT seq, hash FROM audit_head WHERE id = 1", cancellationToken: cancellationToken));
        }

        var previous = "";
        var lastSeq = 0L;
        string? anchored = null;
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
            lastSeq = row.Seq;
            if (row.Seq == head?.Seq)
            {
                anchored = row.Hash;
            }
        }

        // Entries appended after the anchor was read are fine; the entry it names must be there with its hash.
        if (bad is null && head is { Seq: > 0 } && anchored != head.Hash)
        {
            bad = head.Seq > lastSeq
                ? (lastSeq + 1, count == 0
                    ? $"The audit log is empty, but its anchor records entry {head.Seq} ({Short(head.Hash)}) as the newest: every entry was removed."
                    : $"The audit log ends at entry {lastSeq}, but its anchor records entry {head.Seq} ({Short(head.Hash)}) as the newest: the entries after {lastSeq} were removed.")
                : (head.Seq, $"Entry {head.Seq} is not the one the audit log's anchor records as the newest ({Short(head.Hash)}): entries were removed and others written in their place.");
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
