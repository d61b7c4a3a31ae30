using System.Data.Common;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Dapper;
using Runledger.Storage.Audit;
using Runledger.Storage.Lifecycle;

namespace Runledger.Storage.LlmObs;

/// <summary>One row of <c>llm_records</c>: what a record was in versions [VersionFrom, VersionTo).</summary>
public sealed class RecordRow
{
    public required string DatasetId { get; init; }
    public required string Id { get; init; }
    public long VersionFrom { get; init; }
    public long? VersionTo { get; init; }

    /// <summary>JSON text of any value.</summary>
    public required string Input { get; init; }

    public string? ExpectedOutput { get; init; }
    public string? Metadata { get; init; }

    /// <summary>JSON array of strings, or null.</summary>
    public string? Tags { get; init; }

    public required string InputHash { get; init; }
    public long CreatedAt { get; init; }
    public long UpdatedAt { get; init; }
}

/// <summary>Tag operations in the spec's order: remove, then add, then set (which overrides both).</summary>
public sealed record TagOps(IReadOnlyList<string>? Remove = null, IReadOnlyList<string>? Add = null, IReadOnlyList<string>? Set = null)
{
    public bool IsEmpty => Remove is null && Add is null && Set is null;

    public string? Apply(string? currentJson)
    {
        if (IsEmpty)
        {
            return currentJson;
        }

        if (Set is not null)
        {
            return ToJson(Set.Distinct(StringComparer.Ordinal));
        }

        var tags = FromJson(currentJson);
        if (Remove is not null)
        {
            var removed = Remove.ToHashSet(StringComparer.Ordinal);
            tags.RemoveAll(removed.Contains);
        }

        var present = tags.ToHashSet(StringComparer.Ordinal);
        foreach (var tag in Add ?? [])
        {
            if (present.Add(tag))
            {
                tags.Add(tag);
            }
        }

        return ToJson(tags);
    }

    public static string? ToJson(IEnumerable<string> tags)
    {
        var array = new JsonArray(tags.Select(t => (JsonNode?)JsonValue.Create(t)).ToArray());
        return array.Count == 0 ? null : array.ToJsonString();
    }

    public static List<string> FromJson(string? json) =>
        json is null ? [] : (JsonNode.Parse(json) as JsonArray ?? []).Select(n => n!.GetValue<string>()).ToList();
}

/// <summary>A record to add. A null <c>Id</c> gets a generated one.</summary>
public sealed record RecordInsert(string? Id, string Input, string InputHash, string? ExpectedOutput, string? Metadata, TagOps Tags);

/// <summary>A change of a live record. Input and expected output changes are versioned; metadata and tags are not.</summary>
public sealed record RecordPatch(string Id, string? Input, string? InputHash, bool SetExpected, string? ExpectedOutput, bool SetMetadata, string? Metadata, TagOps Tags)
{
    public bool ChangesContent => Input is not null || SetExpected;
}

/// <summary>
/// Everything one request changes, applied in ONE transaction: deletes, then updates, then inserts.
/// <c>NewVersion</c>: a versioned change creates version current+1 (otherwise it rewrites the current one).
/// <c>Deduplicate</c>: an insert whose input equals a live record's (or an earlier insert's) is skipped.
/// <c>ExistingIds</c>: what an insert naming a live record's id does (fail the batch, replace it, or nothing).
/// Ids must be unique within <c>Updates</c> and within <c>Deletes</c> (the endpoints reject duplicates).
/// </summary>
public sealed record RecordBatch(
    IReadOnlyList<RecordInsert> Inserts,
    IReadOnlyList<RecordPatch> Updates,
    IReadOnlyList<string> Deletes,
    bool NewVersion = true,
    bool Deduplicate = false,
    ExistingIdPolicy ExistingIds = ExistingIdPolicy.Fail);

public enum ExistingIdPolicy
{
    Fail,

    /// <summary>The insert replaces the record: content, metadata and tags (tags are set, not merged).</summary>
    Overwrite,
    Skip,
}

public enum RecordOutcome
{
    Done,
    ProjectNotFound,
    DatasetNotFound,

    /// <summary><c>FailedIndex</c> names the update whose id is not a live record of the dataset.</summary>
    UpdateNotFound,

    /// <summary><c>FailedIndex</c> names the insert whose id is already a live record of the dataset.</summary>
    InsertIdExists,

    /// <summary>Another user holds the dataset's draft lock (<c>Lock</c>); nothing changed.</summary>
    DraftLocked,

    /// <summary>A legal hold forbids deleting records of the dataset (<c>Hold</c>); nothing changed but the <c>deletion.refused</c> audit entry.</summary>
    Held,
}

/// <summary>Who holds a dataset's draft lock, and since when (Unix ms).</summary>
public sealed record DraftLock(string UserId, string? UserName, long Since);

/// <summary>The legal hold that refuses a delete.</summary>
public sealed record RecordHold(string Kind, string Id, string Reason);

/// <summary>
/// Finds the legal hold, if any, that forbids deleting records of the dataset, inside the delete's
/// transaction (so a hold set meanwhile wins). Supplied by the lifecycle engine.
/// </summary>
public delegate Task<RecordHold?> RecordHoldCheck(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken);

/// <summary>
/// The outcome; on Done the dataset's version after the batch and the records written (inserted, then updated).
/// <c>Created</c> counts new records only (not overwritten ones); <c>JobId</c> is the deletion job of the deletes, if any.
/// </summary>
public sealed record RecordBatchResult(RecordOutcome Outcome, int FailedIndex = -1, long Version = 0, bool VersionCreated = false, IReadOnlyList<RecordRow>? Records = null, int Deleted = 0, int Skipped = 0)
{
    public int Created { get; init; }
    public string? JobId { get; init; }
    public DraftLock? Lock { get; init; }
    public RecordHold? Hold { get; init; }
}

/// <summary>Who asks: the organisation and the credential (also the draft-lock identity), for the audit entry of a record delete.</summary>
public sealed record RecordActor(string OrgId, string Actor);

/// <summary>How a CSV upload treats its rows, and how often it reports.</summary>
public sealed record RecordUpload(IReadOnlyList<RecordInsert> Rows, bool Deduplicate, bool Overwrite, int ChunkSize);

public interface IRecordStore
{
    /// <summary>Records live in <paramref name="version"/> (null: the current one), newest first; at most <c>limit</c>.</summary>
    Task<IReadOnlyList<RecordRow>> ListAsync(string datasetId, long? version, PageCursor? after, int limit, CancellationToken cancellationToken);

    /// <summary>Every record live in <paramref name="version"/>, streamed, newest first.</summary>
    IAsyncEnumerable<RecordRow> StreamAsync(string datasetId, long version, CancellationToken cancellationToken);

    /// <summary>
    /// Applies the batch in ONE transaction, set-based. When it deletes, <paramref name="holds"/> is
    /// asked first, and the deletes become a finished <c>llm_records</c> deletion job with its
    /// <c>deletion.requested</c> audit entry in the same transaction.
    /// </summary>
    Task<RecordBatchResult> ApplyAsync(string projectId, string datasetId, RecordBatch batch, RecordActor actor, long now, Func<string> newId, RecordHoldCheck? holds, CancellationToken cancellationToken);

    /// <summary>
    /// The records/delete path: closes the live rows of those ids in a new version — one UPDATE per
    /// 500 ids, whatever the dataset's size — and, in the same transaction, writes a finished
    /// <c>llm_records</c> deletion job and its <c>deletion.requested</c> audit entry. Ids that are not
    /// live records of this dataset are ignored; when none is, nothing changes (no job).
    /// </summary>
    Task<RecordBatchResult> DeleteAsync(string projectId, string datasetId, IReadOnlyList<string> ids, RecordActor actor, long now, string versionId, RecordHoldCheck holds, CancellationToken cancellationToken);

    /// <summary>
    /// A CSV upload in ONE transaction (all rows or none) and one new version: rows are applied
    /// <c>ChunkSize</c> at a time, and <paramref name="progress"/> (rows processed, records created)
    /// is called after each chunk. Nothing is visible to others until the whole upload commits.
    /// </summary>
    Task<RecordBatchResult> UploadAsync(string projectId, string datasetId, RecordUpload upload, RecordActor actor, long now, Func<string> newId, Func<long, long, Task> progress, CancellationToken cancellationToken);
}

public sealed class RecordStore(IDatabase database, IAuditStore audit, IDeletionJobStore jobs) : IRecordStore
{
    public const string AuditKind = "llm_records";

    /// <summary>The kind of the (at once finished) deletion job of a record delete.</summary>
    public const string JobKind = "llm_records";

    // Ids per IN list: SQLite looks each named parameter up by a linear scan, so binding costs grow
    // with the square of the parameters per statement.
    private const int LookupChunk = 500;

    private static readonly string[] ColumnNames =
        ["dataset_id", "id", "version_from", "version_to", "input", "expected_output", "metadata", "tags", "input_hash", "created_at", "updated_at"];

    private static readonly string Columns = string.Join(", ", ColumnNames);

    public async Task<IReadOnlyList<RecordRow>> ListAsync(string datasetId, long? version, PageCursor? after, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var live = version is null ? "version_to IS NULL" : "version_from <= @version AND (version_to IS NULL OR version_to > @version)";
        var cursor = after is null ? "" : "AND (created_at < @afterCreated OR (created_at = @afterCreated AND id < @afterId))";
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns} FROM llm_records WHERE dataset_id = @datasetId AND {live} {cursor} ORDER BY created_at DESC, id DESC LIMIT @limit";
        command.AddParameter("datasetId", datasetId);
        command.AddParameter("limit", limit);
        if (version is { } v)
        {
            command.AddParameter("version", v);
        }

        if (after is not null)
        {
            command.AddParameter("afterCreated", after.CreatedAt);
            command.AddParameter("afterId", after.Id);
        }

        var rows = new List<RecordRow>(Math.Min(limit, 1_000));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(ReadRow(reader));
        }

        return rows;
    }

    public async IAsyncEnumerable<RecordRow> StreamAsync(string datasetId, long version, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns} FROM llm_records WHERE dataset_id = @datasetId AND version_from <= @version AND (version_to IS NULL OR version_to > @version) ORDER BY created_at DESC, id DESC";
        command.AddParameter("datasetId", datasetId);
        command.AddParameter("version", version);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            yield return ReadRow(reader);
        }
    }

    /// <summary>
    /// One row of <see cref="Columns"/>, read by position with typed getters: the list is the hot read
    /// of LLM Obs, and the mapper's boxed per-column reads cost more than the query itself.
    /// </summary>
    private static RecordRow ReadRow(DbDataReader reader) => new()
    {
        DatasetId = reader.GetString(0),
        Id = reader.GetString(1),
        VersionFrom = reader.GetInt64(2),
        VersionTo = reader.IsDBNull(3) ? null : reader.GetInt64(3),
        Input = reader.GetString(4),
        ExpectedOutput = reader.IsDBNull(5) ? null : reader.GetString(5),
        Metadata = reader.IsDBNull(6) ? null : reader.GetString(6),
        Tags = reader.IsDBNull(7) ? null : reader.GetString(7),
        InputHash = reader.GetString(8),
        CreatedAt = reader.GetInt64(9),
        UpdatedAt = reader.GetInt64(10),
    };

    public async Task<RecordBatchResult> ApplyAsync(string projectId, string datasetId, RecordBatch batch, RecordActor actor, long now, Func<string> newId, RecordHoldCheck? holds, CancellationToken cancellationToken)
    {
        using var turn = await database.EnterWriteQueueAsync(cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        if (batch.Deletes.Count > 0)
        {
            // Deletes append audit: the chain lock comes first, before any row lock (the lifecycle's lock order).
            await database.Dialect.LockAuditChainAsync(connection, transaction, cancellationToken);
        }

        var (refusal, current) = await LockAsync(connection, transaction, actor, projectId, datasetId, cancellationToken);
        if (refusal is not null)
        {
            return refusal;
        }

        if (batch.Deletes.Count > 0 && holds is not null && await RefuseIfHeldAsync(connection, transaction, holds, datasetId, actor, now, cancellationToken) is { } held)
        {
            return held;
        }

        var applied = await ApplyCoreAsync(connection, transaction, datasetId, batch, current, batch.NewVersion ? current + 1 : current, now, newId, cancellationToken);
        if (applied.Outcome != RecordOutcome.Done)
        {
            return applied;
        }

        var version = applied.Version;
        if (version != current)
        {
            await DatasetStore.BumpVersionAsync(connection, transaction, datasetId, version, newId(), now, cancellationToken);
        }
        else if (applied.Records!.Count > 0 || applied.Deleted > 0)
        {
            await DatasetStore.TouchAsync(connection, transaction, datasetId, now, cancellationToken);
        }

        string? jobId = null;
        if (applied.Deleted > 0)
        {
            jobId = await RecordDeletionAsync(connection, transaction, datasetId, applied.Deleted, version, actor, now, cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return applied with { VersionCreated = version != current, JobId = jobId };
    }

    public async Task<RecordBatchResult> DeleteAsync(string projectId, string datasetId, IReadOnlyList<string> ids, RecordActor actor, long now, string versionId, RecordHoldCheck holds, CancellationToken cancellationToken)
    {
        using var turn = await database.EnterWriteQueueAsync(cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        // The audit chain lock first, before any row lock (the lifecycle's lock order: no deadlock with a scheduler).
        await database.Dialect.LockAuditChainAsync(connection, transaction, cancellationToken);
        var (refusal, current) = await LockAsync(connection, transaction, actor, projectId, datasetId, cancellationToken);
        if (refusal is not null)
        {
            return refusal;
        }

        if (await RefuseIfHeldAsync(connection, transaction, holds, datasetId, actor, now, cancellationToken) is { } held)
        {
            return held;
        }

        var version = current + 1;
        var closed = 0;
        foreach (var chunk in ids.Distinct(StringComparer.Ordinal).Chunk(LookupChunk))
        {
            closed += await connection.ExecuteAsync(new CommandDefinition(
                $"UPDATE llm_records SET version_to = @version WHERE dataset_id = @datasetId AND version_to IS NULL AND {database.Dialect.InListSql("id", "@chunk")}",
                new { datasetId, version, chunk }, transaction, cancellationToken: cancellationToken));
        }

        if (closed == 0)
        {
            // Nothing live among the ids: no new version, no job (the rollback is the dispose).
            return new RecordBatchResult(RecordOutcome.Done, -1, current);
        }

        await DatasetStore.BumpVersionAsync(connection, transaction, datasetId, version, versionId, now, cancellationToken);
        var jobId = await RecordDeletionAsync(connection, transaction, datasetId, closed, version, actor, now, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new RecordBatchResult(RecordOutcome.Done, -1, version, true, null, closed) { JobId = jobId };
    }

    public async Task<RecordBatchResult> UploadAsync(string projectId, string datasetId, RecordUpload upload, RecordActor actor, long now, Func<string> newId, Func<long, long, Task> progress, CancellationToken cancellationToken)
    {
        using var turn = await database.EnterWriteQueueAsync(cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        var (refusal, current) = await LockAsync(connection, transaction, actor, projectId, datasetId, cancellationToken);
        if (refusal is not null)
        {
            return refusal;
        }

        // Every chunk writes into the one new version this transaction owns (the dataset row stays
        // locked until the commit, so no other writer can take that version number meanwhile).
        var policy = upload.Overwrite ? ExistingIdPolicy.Overwrite : ExistingIdPolicy.Skip;
        var written = new List<RecordRow>();
        var processed = 0L;
        var created = 0;
        var skipped = 0;
        var version = current;
        var chunk = new List<RecordInsert>(upload.ChunkSize);
        var chunkIds = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i <= upload.Rows.Count; i++)
        {
            var row = i < upload.Rows.Count ? upload.Rows[i] : null;

            // A chunk ends when full, at the end, or before an id it already holds (so that the
            // second one overwrites or skips against the first, as in a row-by-row upload).
            if (chunk.Count > 0 && (row is null || chunk.Count == upload.ChunkSize || (row.Id is not null && chunkIds.Contains(row.Id))))
            {
                var applied = await ApplyCoreAsync(
                    connection, transaction, datasetId, new RecordBatch(chunk, [], [], NewVersion: true, upload.Deduplicate, policy), current, current + 1, now, newId, cancellationToken);
                if (applied.Outcome != RecordOutcome.Done)
                {
                    return applied with { FailedIndex = (int)processed + applied.FailedIndex };
                }

                version = Math.Max(version, applied.Version);
                written.AddRange(applied.Records!);
                created += applied.Created;
                skipped += applied.Skipped;
                processed += chunk.Count;
                chunk.Clear();
                chunkIds.Clear();
                await progress(processed, created);
            }

            if (row is not null)
            {
                chunk.Add(row);
                if (row.Id is not null)
                {
                    chunkIds.Add(row.Id);
                }
            }
        }

        if (version != current)
        {
            await DatasetStore.BumpVersionAsync(connection, transaction, datasetId, version, newId(), now, cancellationToken);
        }
        else if (written.Count > 0)
        {
            // Rows rewritten in place (an overwrite that changes only metadata): no version, but a change.
            await DatasetStore.TouchAsync(connection, transaction, datasetId, now, cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return new RecordBatchResult(RecordOutcome.Done, -1, version, version != current, written, 0, skipped) { Created = created };
    }

    /// <summary>
    /// Validates the batch against the live rows and writes it, set-based: one lookup per 500 ids,
    /// then one DELETE and one UPDATE per 500 ids, and the new rows through the dialect's bulk insert
    /// (one prepared statement on SQLite, binary COPY on PostgreSQL). Rows go into
    /// <paramref name="next"/> when the batch changes content (otherwise the current version is
    /// rewritten in place); a row born in the version written is replaced rather than closed.
    /// </summary>
    private async Task<RecordBatchResult> ApplyCoreAsync(
        DbConnection connection, DbTransaction transaction, string datasetId, RecordBatch batch, long current, long next, long now, Func<string> newId, CancellationToken cancellationToken)
    {
        // The live rows every item refers to.
        var named = new HashSet<string>(batch.Deletes, StringComparer.Ordinal);
        named.UnionWith(batch.Updates.Select(u => u.Id));
        named.UnionWith(batch.Inserts.Where(i => i.Id is not null).Select(i => i.Id!));
        var live = new Dictionary<string, RecordRow>(StringComparer.Ordinal);
        foreach (var chunk in named.Chunk(LookupChunk))
        {
            foreach (var row in await connection.QueryAsync<RecordRow>(new CommandDefinition(
                $"SELECT {Columns} FROM llm_records WHERE dataset_id = @datasetId AND version_to IS NULL AND {database.Dialect.InListSql("id", "@chunk")}",
                new { datasetId, chunk }, transaction, cancellationToken: cancellationToken)))
            {
                live[row.Id] = row;
            }
        }

        var deleteIds = batch.Deletes.Where(live.ContainsKey).ToHashSet(StringComparer.Ordinal);
        var updates = new List<RecordPatch>(batch.Updates.Count);
        for (var i = 0; i < batch.Updates.Count; i++)
        {
            if (!live.ContainsKey(batch.Updates[i].Id) || deleteIds.Contains(batch.Updates[i].Id))
            {
                return new RecordBatchResult(RecordOutcome.UpdateNotFound, i);
            }

            updates.Add(batch.Updates[i]);
        }

        var skipped = 0;
        var inserts = new List<RecordInsert>(batch.Inserts.Count);
        var insertIds = new HashSet<string>(StringComparer.Ordinal);
        var updateIds = updates.Select(u => u.Id).ToHashSet(StringComparer.Ordinal);
        for (var i = 0; i < batch.Inserts.Count; i++)
        {
            var insert = batch.Inserts[i];
            if (insert.Id is not null && live.ContainsKey(insert.Id) && !deleteIds.Contains(insert.Id))
            {
                if (batch.ExistingIds == ExistingIdPolicy.Fail || updateIds.Contains(insert.Id))
                {
                    return new RecordBatchResult(RecordOutcome.InsertIdExists, i);
                }

                if (batch.ExistingIds == ExistingIdPolicy.Skip)
                {
                    skipped++;
                    continue;
                }

                // Overwrite: the record becomes the row, tags included (set, not merged).
                updateIds.Add(insert.Id);
                updates.Add(new RecordPatch(insert.Id, insert.Input, insert.InputHash, true, insert.ExpectedOutput, true, insert.Metadata,
                    new TagOps(Set: TagOps.FromJson(insert.Tags.Apply(null)))));
                continue;
            }

            if (insert.Id is not null && !insertIds.Add(insert.Id))
            {
                return new RecordBatchResult(RecordOutcome.InsertIdExists, i);
            }

            inserts.Add(insert);
        }

        if (batch.Deduplicate && inserts.Count > 0)
        {
            var hashes = inserts.Select(i => i.InputHash).ToHashSet(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var chunk in hashes.Chunk(LookupChunk))
            {
                seen.UnionWith(await connection.QueryAsync<string>(new CommandDefinition(
                    $"SELECT input_hash FROM llm_records WHERE dataset_id = @datasetId AND version_to IS NULL AND {database.Dialect.InListSql("input_hash", "@chunk")}",
                    new { datasetId, chunk }, transaction, cancellationToken: cancellationToken)));
            }

            var kept = inserts.Where(i => seen.Add(i.InputHash)).ToList();
            skipped += inserts.Count - kept.Count;
            inserts = kept;
        }

        var versioned = inserts.Count > 0 || deleteIds.Count > 0 || updates.Any(u => u.ChangesContent);
        var version = versioned ? next : current;

        // Rows that end: closed before this version (born earlier) or removed (born in it, or
        // rewritten in place); the new rows replace them.
        var close = new List<string>();
        var drop = new List<string>();
        foreach (var id in deleteIds)
        {
            (live[id].VersionFrom == version ? drop : close).Add(id);
        }

        var newRows = new List<RecordRow>(inserts.Count + updates.Count);
        foreach (var insert in inserts)
        {
            newRows.Add(new RecordRow
            {
                DatasetId = datasetId,
                Id = insert.Id ?? newId(),
                VersionFrom = version,
                Input = insert.Input,
                InputHash = insert.InputHash,
                ExpectedOutput = insert.ExpectedOutput,
                Metadata = insert.Metadata,
                Tags = insert.Tags.Apply(null),
                CreatedAt = now,
                UpdatedAt = now,
            });
        }

        foreach (var update in updates)
        {
            var old = live[update.Id];
            var versionFrom = update.ChangesContent ? version : old.VersionFrom;
            (versionFrom != old.VersionFrom ? close : drop).Add(old.Id);
            newRows.Add(new RecordRow
            {
                DatasetId = datasetId,
                Id = old.Id,
                VersionFrom = versionFrom,
                Input = update.Input ?? old.Input,
                InputHash = update.InputHash ?? old.InputHash,
                ExpectedOutput = update.SetExpected ? update.ExpectedOutput : old.ExpectedOutput,
                Metadata = update.SetMetadata ? update.Metadata : old.Metadata,
                Tags = update.Tags.Apply(old.Tags),
                CreatedAt = old.CreatedAt,
                UpdatedAt = now,
            });
        }

        var inList = database.Dialect.InListSql("id", "@chunk");
        foreach (var chunk in drop.Chunk(LookupChunk))
        {
            await connection.ExecuteAsync(new CommandDefinition(
                $"DELETE FROM llm_records WHERE dataset_id = @datasetId AND version_to IS NULL AND {inList}",
                new { datasetId, chunk }, transaction, cancellationToken: cancellationToken));
        }

        foreach (var chunk in close.Chunk(LookupChunk))
        {
            await connection.ExecuteAsync(new CommandDefinition(
                $"UPDATE llm_records SET version_to = @version WHERE dataset_id = @datasetId AND version_to IS NULL AND {inList}",
                new { datasetId, chunk, version }, transaction, cancellationToken: cancellationToken));
        }

        await database.Dialect.InsertRecordsAsync(connection, transaction, newRows, cancellationToken);
        return new RecordBatchResult(RecordOutcome.Done, -1, version, version != current, newRows, deleteIds.Count, skipped) { Created = inserts.Count };
    }

    /// <summary>
    /// Locks the dataset row for this transaction (PostgreSQL: a row lock; SQLite: the write
    /// transaction already excludes other writers) and reads its current version and draft lock.
    /// A refusal (not found, or the draft locked by another user) comes back instead of the version.
    /// </summary>
    private static async Task<(RecordBatchResult? Refusal, long Current)> LockAsync(DbConnection connection, DbTransaction transaction, RecordActor actor, string projectId, string datasetId, CancellationToken cancellationToken)
    {
        var locked = await connection.QuerySingleOrDefaultAsync<DatasetLockRow>(new CommandDefinition(
            $"""
            UPDATE llm_datasets SET current_version = current_version
            WHERE id = @datasetId AND project_id = @projectId AND org_id = @OrgId AND {DatasetStore.VisibleSql}
            RETURNING current_version, draft_user_id, draft_user_name, draft_since
            """,
            new { actor.OrgId, projectId, datasetId }, transaction, cancellationToken: cancellationToken));
        if (locked is null)
        {
            var outcome = await DatasetStore.ProjectVisibleAsync(connection, transaction, actor.OrgId, projectId, cancellationToken) ? RecordOutcome.DatasetNotFound : RecordOutcome.ProjectNotFound;
            return (new RecordBatchResult(outcome), 0);
        }

        if (locked.DraftUserId is not null && locked.DraftUserId != actor.Actor)
        {
            return (new RecordBatchResult(RecordOutcome.DraftLocked) { Lock = new DraftLock(locked.DraftUserId, locked.DraftUserName, locked.DraftSince ?? 0) }, 0);
        }

        return (null, locked.CurrentVersion);
    }

    /// <summary>When a hold forbids the delete: a <c>deletion.refused</c> audit entry (committed alone) and the Held outcome.</summary>
    private async Task<RecordBatchResult?> RefuseIfHeldAsync(DbConnection connection, DbTransaction transaction, RecordHoldCheck holds, string datasetId, RecordActor actor, long now, CancellationToken cancellationToken)
    {
        if (await holds(connection, transaction, cancellationToken) is not { } hold)
        {
            return null;
        }

        await audit.AppendAsync(connection, transaction, new AuditRow
        {
            Id = Guid.CreateVersion7().ToString(),
            At = now,
            Actor = actor.Actor,
            Action = "deletion.refused",
            TargetKind = AuditKind,
            TargetId = datasetId,
            Scope = actor.OrgId,
            Counts = "{}",
            Detail = $"the {hold.Kind} '{hold.Id}' is under legal hold (reason: {hold.Reason})",
        }, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new RecordBatchResult(RecordOutcome.Held) { Hold = hold };
    }

    /// <summary>The deletion job of closed records (finished at once: earlier versions keep the rows until retention) and its audit entry.</summary>
    private async Task<string> RecordDeletionAsync(DbConnection connection, DbTransaction transaction, string datasetId, int count, long version, RecordActor actor, long now, CancellationToken cancellationToken)
    {
        var jobId = Guid.CreateVersion7().ToString();
        var counts = string.Create(CultureInfo.InvariantCulture, $"{{\"llm_records\":{count}}}");
        await jobs.InsertAsync(connection, transaction, new DeletionJobRow
        {
            Id = jobId,
            Kind = JobKind,
            TargetId = datasetId,
            Scope = actor.OrgId,
            State = JobStates.Done,
            RequestedBy = actor.Actor,
            RequestedAt = now,
            StartedAt = now,
            FinishedAt = now,
            RowsRemoved = count,
            Progress = counts,
            PurgeAfter = now,
        }, cancellationToken);
        await audit.AppendAsync(connection, transaction, new AuditRow
        {
            Id = Guid.CreateVersion7().ToString(),
            At = now,
            Actor = actor.Actor,
            Action = "deletion.requested",
            TargetKind = AuditKind,
            TargetId = datasetId,
            Scope = actor.OrgId,
            JobId = jobId,
            Counts = counts,
            Detail = string.Create(CultureInfo.InvariantCulture, $"closed in dataset version {version}; earlier versions keep them until retention removes them"),
        }, cancellationToken);
        return jobId;
    }

    private sealed class DatasetLockRow
    {
        public long CurrentVersion { get; init; }
        public string? DraftUserId { get; init; }
        public string? DraftUserName { get; init; }
        public long? DraftSince { get; init; }
    }
}
