using System.Data.Common;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Dapper;
using Runledger.Storage.Audit;

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
            tags.RemoveAll(Remove.Contains);
        }

        foreach (var tag in Add ?? [])
        {
            if (!tags.Contains(tag, StringComparer.Ordinal))
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
}

/// <summary>The outcome; on Done the dataset's version after the batch and the records written (inserted, then updated).</summary>
public sealed record RecordBatchResult(RecordOutcome Outcome, int FailedIndex = -1, long Version = 0, bool VersionCreated = false, IReadOnlyList<RecordRow>? Records = null, int Deleted = 0, int Skipped = 0);

/// <summary>Who asks, for the audit entry of a record delete.</summary>
public sealed record RecordActor(string OrgId, string Actor);

public interface IRecordStore
{
    /// <summary>Records live in <paramref name="version"/> (null: the current one), newest first; at most <c>limit</c>.</summary>
    Task<IReadOnlyList<RecordRow>> ListAsync(string datasetId, long? version, PageCursor? after, int limit, CancellationToken cancellationToken);

    /// <summary>Every record live in <paramref name="version"/>, streamed, newest first.</summary>
    IAsyncEnumerable<RecordRow> StreamAsync(string datasetId, long version, CancellationToken cancellationToken);

    Task<RecordBatchResult> ApplyAsync(string projectId, string datasetId, RecordBatch batch, RecordActor actor, long now, Func<string> newId, CancellationToken cancellationToken);

    /// <summary>
    /// The records/delete path: closes the live rows of those ids in a new version — one UPDATE over
    /// the ids, whatever the dataset's size — and writes the audit entry in the same transaction.
    /// Ids that are not live records of this dataset are ignored; when none is, nothing changes.
    /// </summary>
    Task<RecordBatchResult> DeleteAsync(string projectId, string datasetId, IReadOnlyList<string> ids, RecordActor actor, long now, string versionId, CancellationToken cancellationToken);
}

public sealed class RecordStore(IDatabase database, IAuditStore audit) : IRecordStore
{
    public const string AuditKind = "llm_records";
    private const int LookupChunk = 500;
    private const string Columns = "dataset_id, id, version_from, version_to, input, expected_output, metadata, tags, input_hash, created_at, updated_at";
    private const string InsertSql =
        $"INSERT INTO llm_records ({Columns}) VALUES (@DatasetId, @Id, @VersionFrom, @VersionTo, @Input, @ExpectedOutput, @Metadata, @Tags, @InputHash, @CreatedAt, @UpdatedAt)";

    public async Task<IReadOnlyList<RecordRow>> ListAsync(string datasetId, long? version, PageCursor? after, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var live = version is null ? "version_to IS NULL" : "version_from <= @version AND (version_to IS NULL OR version_to > @version)";
        var cursor = after is null ? "" : "AND (created_at < @AfterCreated OR (created_at = @AfterCreated AND id < @AfterId))";
        var rows = await connection.QueryAsync<RecordRow>(new CommandDefinition(
            $"SELECT {Columns} FROM llm_records WHERE dataset_id = @datasetId AND {live} {cursor} ORDER BY created_at DESC, id DESC LIMIT @limit",
            new { datasetId, version, AfterCreated = after?.CreatedAt, AfterId = after?.Id, limit },
            cancellationToken: cancellationToken));
        return rows.AsList();
    }

    public async IAsyncEnumerable<RecordRow> StreamAsync(string datasetId, long version, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = connection.QueryUnbufferedAsync<RecordRow>(
            $"SELECT {Columns} FROM llm_records WHERE dataset_id = @datasetId AND version_from <= @version AND (version_to IS NULL OR version_to > @version) ORDER BY created_at DESC, id DESC",
            new { datasetId, version });
        await foreach (var row in rows.WithCancellation(cancellationToken))
        {
            yield return row;
        }
    }

    public async Task<RecordBatchResult> ApplyAsync(string projectId, string datasetId, RecordBatch batch, RecordActor actor, long now, Func<string> newId, CancellationToken cancellationToken)
    {
        using var turn = await database.EnterWriteQueueAsync(cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        var (outcome, current) = await LockAsync(connection, transaction, actor.OrgId, projectId, datasetId, cancellationToken);
        if (outcome != RecordOutcome.Done)
        {
            return new RecordBatchResult(outcome);
        }

        // The live rows every item refers to, in one query.
        var named = batch.Deletes.Concat(batch.Updates.Select(u => u.Id)).Concat(batch.Inserts.Where(i => i.Id is not null).Select(i => i.Id!))
            .Distinct(StringComparer.Ordinal).ToList();
        var live = new Dictionary<string, RecordRow>(StringComparer.Ordinal);
        foreach (var chunk in named.Chunk(LookupChunk))
        {
            // Chunked: binding thousands of named parameters to one statement costs quadratic time in SQLite.
            foreach (var row in await connection.QueryAsync<RecordRow>(new CommandDefinition(
                $"SELECT {Columns} FROM llm_records WHERE dataset_id = @datasetId AND version_to IS NULL AND {database.Dialect.InListSql("id", "@chunk")}",
                new { datasetId, chunk }, transaction, cancellationToken: cancellationToken)))
            {
                live[row.Id] = row;
            }
        }

        var deleteIds = batch.Deletes.Where(live.ContainsKey).ToList();
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
        for (var i = 0; i < batch.Inserts.Count; i++)
        {
            var insert = batch.Inserts[i];
            if (insert.Id is not null && live.ContainsKey(insert.Id) && !deleteIds.Contains(insert.Id))
            {
                if (batch.ExistingIds == ExistingIdPolicy.Fail)
                {
                    return new RecordBatchResult(RecordOutcome.InsertIdExists, i);
                }

                if (batch.ExistingIds == ExistingIdPolicy.Skip)
                {
                    skipped++;
                    continue;
                }

                updates.Add(new RecordPatch(insert.Id, insert.Input, insert.InputHash, true, insert.ExpectedOutput, true, insert.Metadata, insert.Tags));
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
            var hashes = inserts.Select(i => i.InputHash).Distinct(StringComparer.Ordinal).ToList();
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
        var version = versioned && batch.NewVersion ? current + 1 : current;

        if (deleteIds.Count > 0)
        {
            await CloseAsync(connection, transaction, datasetId, deleteIds, version, cancellationToken);
        }

        var written = new List<RecordRow>(inserts.Count + updates.Count);
        var newRows = new List<RecordRow>(inserts.Count + updates.Count);
        var updatedRows = new List<RecordRow>();
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

        written.AddRange(newRows);
        foreach (var update in updates)
        {
            var old = live[update.Id];
            var row = new RecordRow
            {
                DatasetId = datasetId,
                Id = old.Id,
                VersionFrom = update.ChangesContent ? version : old.VersionFrom,
                Input = update.Input ?? old.Input,
                InputHash = update.InputHash ?? old.InputHash,
                ExpectedOutput = update.SetExpected ? update.ExpectedOutput : old.ExpectedOutput,
                Metadata = update.SetMetadata ? update.Metadata : old.Metadata,
                Tags = update.Tags.Apply(old.Tags),
                CreatedAt = old.CreatedAt,
                UpdatedAt = now,
            };
            live[update.Id] = row;
            written.Add(row);
            if (update.ChangesContent && old.VersionFrom != version)
            {
                // The old content stays readable in the versions before this one.
                await CloseAsync(connection, transaction, datasetId, [old.Id], version, cancellationToken);
                newRows.Add(row);
            }
            else
            {
                updatedRows.Add(row);
            }
        }

        if (updatedRows.Count > 0)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                """
                UPDATE llm_records SET input = @Input, input_hash = @InputHash, expected_output = @ExpectedOutput, metadata = @Metadata, tags = @Tags, updated_at = @UpdatedAt
                WHERE dataset_id = @DatasetId AND id = @Id AND version_to IS NULL
                """,
                updatedRows, transaction, cancellationToken: cancellationToken));
        }

        if (newRows.Count > 0)
        {
            await connection.ExecuteAsync(new CommandDefinition(InsertSql, newRows, transaction, cancellationToken: cancellationToken));
        }

        if (version != current)
        {
            await DatasetStore.BumpVersionAsync(connection, transaction, datasetId, version, newId(), now, cancellationToken);
        }
        else if (written.Count > 0 || deleteIds.Count > 0)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE llm_datasets SET updated_at = @now WHERE id = @datasetId", new { datasetId, now }, transaction, cancellationToken: cancellationToken));
        }

        if (deleteIds.Count > 0)
        {
            await AuditAsync(connection, transaction, datasetId, deleteIds.Count, version, actor, now, cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return new RecordBatchResult(RecordOutcome.Done, -1, version, version != current, written, deleteIds.Count, skipped);
    }

    public async Task<RecordBatchResult> DeleteAsync(string projectId, string datasetId, IReadOnlyList<string> ids, RecordActor actor, long now, string versionId, CancellationToken cancellationToken)
    {
        using var turn = await database.EnterWriteQueueAsync(cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        var (outcome, current) = await LockAsync(connection, transaction, actor.OrgId, projectId, datasetId, cancellationToken);
        if (outcome != RecordOutcome.Done)
        {
            return new RecordBatchResult(outcome);
        }

        var version = current + 1;
        var closed = await connection.ExecuteAsync(new CommandDefinition(
            $"UPDATE llm_records SET version_to = @version WHERE dataset_id = @datasetId AND version_to IS NULL AND {database.Dialect.InListSql("id", "@ids")}",
            new { datasetId, version, ids }, transaction, cancellationToken: cancellationToken));
        if (closed == 0)
        {
            // Nothing live among the ids: no new version, no audit entry (the rollback is the dispose).
            return new RecordBatchResult(RecordOutcome.Done, -1, current);
        }

        await DatasetStore.BumpVersionAsync(connection, transaction, datasetId, version, versionId, now, cancellationToken);
        await AuditAsync(connection, transaction, datasetId, closed, version, actor, now, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new RecordBatchResult(RecordOutcome.Done, -1, version, true, null, closed);
    }

    /// <summary>
    /// Locks the dataset row for this transaction (PostgreSQL: a row lock; SQLite: the write
    /// transaction already excludes other writers) and reads its current version.
    /// </summary>
    private static async Task<(RecordOutcome Outcome, long Current)> LockAsync(DbConnection connection, DbTransaction transaction, string orgId, string projectId, string datasetId, CancellationToken cancellationToken)
    {
        var locked = await connection.ExecuteAsync(new CommandDefinition(
            $"UPDATE llm_datasets SET current_version = current_version WHERE id = @datasetId AND project_id = @projectId AND org_id = @orgId AND {DatasetStore.VisibleSql}",
            new { orgId, projectId, datasetId }, transaction, cancellationToken: cancellationToken));
        if (locked == 0)
        {
            return (await DatasetStore.ProjectVisibleAsync(connection, transaction, orgId, projectId, cancellationToken) ? RecordOutcome.DatasetNotFound : RecordOutcome.ProjectNotFound, 0);
        }

        var current = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT current_version FROM llm_datasets WHERE id = @datasetId", new { datasetId }, transaction, cancellationToken: cancellationToken));
        return (RecordOutcome.Done, current);
    }

    /// <summary>Ends the live rows of <paramref name="ids"/> before <paramref name="version"/>; a row born in that version is removed instead.</summary>
    private async Task CloseAsync(DbConnection connection, DbTransaction transaction, string datasetId, IReadOnlyList<string> ids, long version, CancellationToken cancellationToken)
    {
        var inList = database.Dialect.InListSql("id", "@chunk");
        foreach (var chunk in ids.Chunk(LookupChunk))
        {
            var args = new { datasetId, chunk, version };
            await connection.ExecuteAsync(new CommandDefinition(
                $"DELETE FROM llm_records WHERE dataset_id = @datasetId AND version_to IS NULL AND version_from = @version AND {inList}",
                args, transaction, cancellationToken: cancellationToken));
            await connection.ExecuteAsync(new CommandDefinition(
                $"UPDATE llm_records SET version_to = @version WHERE dataset_id = @datasetId AND version_to IS NULL AND {inList}",
                args, transaction, cancellationToken: cancellationToken));
        }
    }

    private Task AuditAsync(DbConnection connection, DbTransaction transaction, string datasetId, int count, long version, RecordActor actor, long now, CancellationToken cancellationToken) =>
        audit.AppendAsync(connection, transaction, new AuditRow
        {
            Id = Guid.CreateVersion7().ToString(),
            At = now,
            Actor = actor.Actor,
            Action = "records.deleted",
            TargetKind = AuditKind,
            TargetId = datasetId,
            Scope = actor.OrgId,
            Counts = $"{{\"llm_records\":{count}}}",
            Detail = $"closed in dataset version {version}; earlier versions keep them until retention removes them",
        }, cancellationToken);
}
