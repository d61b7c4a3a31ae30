using System.Data.Common;
using Dapper;

namespace Runledger.Storage.LlmObs;

public sealed class DatasetRow
{
    public required string Id { get; init; }
    public required string OrgId { get; init; }
    public required string ProjectId { get; init; }
    public required string Name { get; init; }
    public string? Description { get; init; }

    /// <summary>A JSON object as text, or null.</summary>
    public string? Metadata { get; init; }

    public long CurrentVersion { get; init; }
    public long CreatedAt { get; init; }
    public long UpdatedAt { get; init; }
    public string? DraftUserId { get; init; }
    public string? DraftUserName { get; init; }
    public long? DraftSince { get; init; }
}

public sealed class DatasetVersionRow
{
    public required string Id { get; init; }
    public required string DatasetId { get; init; }
    public long VersionNumber { get; init; }
    public long CreatedAt { get; init; }
    public long? LastUsed { get; init; }
}

public sealed record DatasetQuery(string OrgId, string ProjectId, string? Id, string? Name, PageCursor? After, int Limit);

public sealed record DatasetUpdate(string? Name, string? Description, bool SetDescription, string? Metadata, bool SetMetadata);

public enum DatasetOutcome
{
    Done,
    ProjectNotFound,
    DatasetNotFound,
    NameTaken,
    VersionOutOfRange,
    LockedByOther,
    NotLockHolder,
}

public sealed record DraftHolder(string UserId, string UserName);

public interface IDatasetStore
{
    /// <summary>True when the project exists in the organisation and is not being deleted.</summary>
    Task<bool> ProjectVisibleAsync(string orgId, string projectId, CancellationToken cancellationToken);

    /// <summary>Visible datasets of a visible project, newest first; at most <c>Limit</c>.</summary>
    Task<IReadOnlyList<DatasetRow>> ListAsync(DatasetQuery query, CancellationToken cancellationToken);

    /// <summary>Those of <paramref name="ids"/> that name visible datasets of the project.</summary>
    Task<IReadOnlyList<string>> VisibleIdsAsync(string orgId, string projectId, IReadOnlyList<string> ids, CancellationToken cancellationToken);

    /// <summary>The dataset when it and its project are visible in the organisation.</summary>
    Task<DatasetRow?> GetAsync(string orgId, string projectId, string datasetId, CancellationToken cancellationToken);

    /// <summary>Creates the dataset with its version 0, or returns the one of that name (Created = false).</summary>
    Task<(DatasetOutcome Outcome, DatasetRow? Dataset, bool Created)> CreateOrGetAsync(DatasetRow dataset, string versionId, CancellationToken cancellationToken);

    /// <summary>Changes name, description or metadata; refused (LockedByOther, nothing changed) while another user than <paramref name="userId"/> holds the draft lock.</summary>
    Task<(DatasetOutcome Outcome, DatasetRow? Dataset)> UpdateAsync(string orgId, string projectId, string datasetId, DatasetUpdate update, string userId, long now, CancellationToken cancellationToken);

    /// <summary>A new dataset (version 0) holding the source's live records, under the same record ids.</summary>
    Task<(DatasetOutcome Outcome, DatasetRow? Dataset)> CloneAsync(string orgId, string projectId, string sourceId, DatasetRow clone, string versionId, CancellationToken cancellationToken);

    Task<IReadOnlyList<DatasetVersionRow>> ListVersionsAsync(string datasetId, CancellationToken cancellationToken);

    /// <summary>Whether version <paramref name="version"/> of the dataset still exists (a retention policy may have removed it).</summary>
    Task<bool> VersionExistsAsync(string datasetId, long version, CancellationToken cancellationToken);

    /// <summary>
    /// Makes the records of <paramref name="version"/> the records of a new current version,
    /// touching only the rows that differ: live rows that are not in that version are closed, and
    /// rows of that version that are not live are added again from the new one. Refused
    /// (LockedByOther, with the dataset) while another user than <paramref name="userId"/> holds the draft lock.
    /// </summary>
    Task<(DatasetOutcome Outcome, long NewVersion, DatasetRow? Dataset)> RestoreAsync(string orgId, string projectId, string datasetId, long version, string userId, string versionId, long now, CancellationToken cancellationToken);

    /// <summary>Takes the draft lock for <paramref name="holder"/>; held by another → LockedByOther and the current row.</summary>
    Task<(DatasetOutcome Outcome, DatasetRow? Dataset)> LockDraftAsync(string orgId, string projectId, string datasetId, DraftHolder holder, long now, CancellationToken cancellationToken);

    /// <summary>
    /// Releases the draft lock; only its holder may (NotLockHolder otherwise). Unlocking an unlocked
    /// draft is Done. <c>draft_since</c> then keeps the release time.
    /// </summary>
    Task<(DatasetOutcome Outcome, DatasetRow? Dataset)> UnlockDraftAsync(string orgId, string projectId, string datasetId, string userId, long now, CancellationToken cancellationToken);

    /// <summary>
    /// The first (oldest) visible dataset of the organisation whose draft lock a user other than
    /// <paramref name="userId"/> holds, among <paramref name="datasetIds"/> or, when that is null,
    /// among the datasets of <paramref name="projectIds"/>; null when there is none. Deletes ask it
    /// before scheduling, so a dataset locked by someone else is not deleted from under them.
    /// </summary>
    Task<DatasetRow?> LockedByOtherAsync(string orgId, IReadOnlyList<string> projectIds, IReadOnlyList<string>? datasetIds, string userId, CancellationToken cancellationToken);
}

public sealed class DatasetStore(IDatabase database) : IDatasetStore
{
    internal const string Columns = "id, org_id, project_id, name, description, metadata, current_version, created_at, updated_at, draft_user_id, draft_user_name, draft_since";

    /// <summary>Visible = not being deleted, and neither is its project.</summary>
    internal const string VisibleSql =
        "deleting_job_id IS NULL AND EXISTS (SELECT 1 FROM llm_projects p WHERE p.id = llm_datasets.project_id AND p.deleting_job_id IS NULL)";

    public async Task<bool> ProjectVisibleAsync(string orgId, string projectId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await ProjectVisibleAsync(connection, null, orgId, projectId, cancellationToken);
    }

    public async Task<IReadOnlyList<DatasetRow>> ListAsync(DatasetQuery query, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<DatasetRow>(new CommandDefinition(
            $"""
            SELECT {Columns} FROM llm_datasets
            WHERE project_id = @ProjectId AND org_id = @OrgId AND deleting_job_id IS NULL
              AND (@Id IS NULL OR id = @Id) AND (@Name IS NULL OR name = @Name)
              AND (@AfterCreated IS NULL OR created_at < @AfterCreated OR (created_at = @AfterCreated AND id < @AfterId))
            ORDER BY created_at DESC, id DESC
            LIMIT @Limit
            """,
            new { query.OrgId, query.ProjectId, query.Id, query.Name, AfterCreated = query.After?.CreatedAt, AfterId = query.After?.Id, query.Limit },
            cancellationToken: cancellationToken));
        return rows.AsList();
    }

    public async Task<IReadOnlyList<string>> VisibleIdsAsync(string orgId, string projectId, IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var found = await connection.QueryAsync<string>(new CommandDefinition(
            $"SELECT id FROM llm_datasets WHERE project_id = @projectId AND org_id = @orgId AND deleting_job_id IS NULL AND {database.Dialect.InListSql("id", "@ids")}",
            new { orgId, projectId, ids }, cancellationToken: cancellationToken));
        var set = found.ToHashSet(StringComparer.Ordinal);
        return ids.Where(set.Contains).ToList();
    }

    public async Task<DatasetRow?> LockedByOtherAsync(string orgId, IReadOnlyList<string> projectIds, IReadOnlyList<string>? datasetIds, string userId, CancellationToken cancellationToken)
    {
        if (projectIds.Count == 0 || datasetIds is { Count: 0 })
        {
            return null;
        }

        await using var connection = await database.OpenAsync(cancellationToken);
        var which = datasetIds is null ? "" : $"AND {database.Dialect.InListSql("id", "@datasetIds")}";
        return await connection.QueryFirstOrDefaultAsync<DatasetRow>(new CommandDefinition(
            $"""
            SELECT {Columns} FROM llm_datasets
            WHERE org_id = @orgId AND {database.Dialect.InListSql("project_id", "@projectIds")} {which} AND {VisibleSql}
              AND draft_user_id IS NOT NULL AND draft_user_id <> @userId
            ORDER BY created_at, id LIMIT 1
            """,
            new { orgId, projectIds, datasetIds, userId }, cancellationToken: cancellationToken));
    }

    public async Task<DatasetRow?> GetAsync(string orgId, string projectId, string datasetId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await GetAsync(connection, null, orgId, projectId, datasetId, cancellationToken);
    }

    public async Task<(DatasetOutcome Outcome, DatasetRow? Dataset, bool Created)> CreateOrGetAsync(DatasetRow dataset, string versionId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        if (!await ProjectVisibleAsync(connection, transaction, dataset.OrgId, dataset.ProjectId, cancellationToken))
        {
            return (DatasetOutcome.ProjectNotFound, null, false);
        }

        var existing = await connection.QuerySingleOrDefaultAsync<DatasetRow>(new CommandDefinition(
            $"SELECT {Columns} FROM llm_datasets WHERE project_id = @ProjectId AND name = @Name", dataset, transaction, cancellationToken: cancellationToken));
        if (existing is not null)
        {
            // A dataset of that name that is still being deleted holds the name until its job ends.
            return await IsDeletingAsync(connection, transaction, existing.Id, cancellationToken)
                ? (DatasetOutcome.NameTaken, existing, false)
                : (DatasetOutcome.Done, existing, false);
        }

        if (!await InsertAsync(connection, transaction, dataset, versionId, cancellationToken))
        {
            // A concurrent create took the name between the look-up and the insert (PostgreSQL):
            // the answer is the one a later request gets, the existing dataset.
            await transaction.RollbackAsync(cancellationToken);
            existing = await connection.QuerySingleOrDefaultAsync<DatasetRow>(new CommandDefinition(
                $"SELECT {Columns} FROM llm_datasets WHERE project_id = @ProjectId AND name = @Name", dataset, cancellationToken: cancellationToken));
            return existing is null || await IsDeletingAsync(connection, null, existing.Id, cancellationToken)
                ? (DatasetOutcome.NameTaken, existing, false)
                : (DatasetOutcome.Done, existing, false);
        }

        await transaction.CommitAsync(cancellationToken);
        return (DatasetOutcome.Done, dataset, true);
    }

    public async Task<(DatasetOutcome Outcome, DatasetRow? Dataset)> UpdateAsync(string orgId, string projectId, string datasetId, DatasetUpdate update, string userId, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        var (outcome, current) = await LockRowAsync(connection, transaction, orgId, projectId, datasetId, cancellationToken);
        if (current is null)
        {
            return (outcome, null);
        }

        if (current.DraftUserId is not null && current.DraftUserId != userId)
        {
            return (DatasetOutcome.LockedByOther, current);
        }

        if (update.Name is not null && update.Name != current.Name && await NameTakenAsync(connection, transaction, projectId, update.Name, cancellationToken))
        {
            return (DatasetOutcome.NameTaken, current);
        }

        try
        {
            await connection.ExecuteAsync(new CommandDefinition(
                $"UPDATE llm_datasets SET name = @Name, description = @Description, metadata = @Metadata, updated_at = {TouchedUpdatedAtSql} WHERE id = @Id",
                new
                {
                    current.Id,
                    Name = update.Name ?? current.Name,
                    Description = update.SetDescription ? update.Description : current.Description,
                    Metadata = update.SetMetadata ? update.Metadata : current.Metadata,
                    now,
                },
                transaction, cancellationToken: cancellationToken));
        }
        catch (DbException) when (update.Name is not null && update.Name != current.Name)
        {
            // A concurrent create or rename took the name after the check (PostgreSQL): the unique
            // constraint refused it, so the answer is the one the check gives once it sees that row.
            await transaction.RollbackAsync(cancellationToken);
            if (await NameTakenAsync(connection, null, projectId, update.Name, cancellationToken))
            {
                return (DatasetOutcome.NameTaken, current);
            }

            throw;
        }

        var updated = await GetAsync(connection, transaction, orgId, projectId, datasetId, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return (DatasetOutcome.Done, updated);
    }

    public async Task<(DatasetOutcome Outcome, DatasetRow? Dataset)> CloneAsync(string orgId, string projectId, string sourceId, DatasetRow clone, string versionId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        var (outcome, source) = await ResolveAsync(connection, transaction, orgId, projectId, sourceId, cancellationToken);
        if (source is null)
        {
            return (outcome, null);
        }

        if (await NameTakenAsync(connection, transaction, projectId, clone.Name, cancellationToken))
        {
            return (DatasetOutcome.NameTaken, null);
        }

        if (!await InsertAsync(connection, transaction, clone, versionId, cancellationToken))
        {
            // A concurrent create took the name after the check (PostgreSQL).
            return (DatasetOutcome.NameTaken, null);
        }

        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO llm_records (dataset_id, id, version_from, version_to, input, expected_output, metadata, tags, input_hash, created_at, updated_at)
            SELECT @CloneId, id, 0, NULL, input, expected_output, metadata, tags, input_hash, created_at, updated_at
            FROM llm_records WHERE dataset_id = @SourceId AND version_to IS NULL
            """,
            new { CloneId = clone.Id, SourceId = source.Id }, transaction, cancellationToken: cancellationToken, commandTimeout: 0));
        await transaction.CommitAsync(cancellationToken);
        return (DatasetOutcome.Done, clone);
    }

    public async Task<IReadOnlyList<DatasetVersionRow>> ListVersionsAsync(string datasetId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<DatasetVersionRow>(new CommandDefinition(
            "SELECT id, dataset_id, version_number, created_at, last_used FROM llm_dataset_versions WHERE dataset_id = @datasetId ORDER BY version_number",
            new { datasetId }, cancellationToken: cancellationToken));
        return rows.AsList();
    }

    public async Task<bool> VersionExistsAsync(string datasetId, long version, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT COUNT(*) FROM llm_dataset_versions WHERE dataset_id = @datasetId AND version_number = @version",
            new { datasetId, version }, cancellationToken: cancellationToken)) > 0;
    }

    public async Task<(DatasetOutcome Outcome, long NewVersion, DatasetRow? Dataset)> RestoreAsync(string orgId, string projectId, string datasetId, long version, string userId, string versionId, long now, CancellationToken cancellationToken)
    {
        using var turn = await database.EnterWriteQueueAsync(cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);

        // The row lock comes first and the version is read under it, so a concurrent records write
        // (which takes the same lock) cannot pick the same next version number.
        var (outcome, current) = await LockRowAsync(connection, transaction, orgId, projectId, datasetId, cancellationToken);
        if (current is null)
        {
            return (outcome, 0, null);
        }

        if (current.DraftUserId is not null && current.DraftUserId != userId)
        {
            return (DatasetOutcome.LockedByOther, current.CurrentVersion, current);
        }

        if (version < 0 || version > current.CurrentVersion)
        {
            return (DatasetOutcome.VersionOutOfRange, current.CurrentVersion, current);
        }

        var next = current.CurrentVersion + 1;
        var args = new { DatasetId = datasetId, Version = version, Next = next };

        // Live now, not live in the target version: a live row is live in the target exactly when it was born by then.
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE llm_records SET version_to = @Next WHERE dataset_id = @DatasetId AND version_to IS NULL AND version_from > @Version",
            args, transaction, cancellationToken: cancellationToken, commandTimeout: 0));

        // Live in the target version, not live now (closed since): live again from the new version.
        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO llm_records (dataset_id, id, version_from, version_to, input, expected_output, metadata, tags, input_hash, created_at, updated_at)
            SELECT dataset_id, id, @Next, NULL, input, expected_output, metadata, tags, input_hash, created_at, updated_at
            FROM llm_records WHERE dataset_id = @DatasetId AND version_from <= @Version AND version_to IS NOT NULL AND version_to > @Version
            """,
            args, transaction, cancellationToken: cancellationToken, commandTimeout: 0));
        await BumpVersionAsync(connection, transaction, datasetId, next, versionId, now, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return (DatasetOutcome.Done, next, current);
    }

    public async Task<(DatasetOutcome Outcome, DatasetRow? Dataset)> LockDraftAsync(string orgId, string projectId, string datasetId, DraftHolder holder, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);

        // One conditional UPDATE: taking a free lock and finding it taken cannot interleave.
        var taken = await connection.ExecuteAsync(new CommandDefinition(
            $"""
            UPDATE llm_datasets
            SET draft_since = CASE WHEN draft_user_id = @UserId THEN draft_since ELSE @now END,
                draft_user_name = CASE WHEN draft_user_id = @UserId THEN draft_user_name ELSE @UserName END,
                draft_user_id = @UserId
            WHERE id = @datasetId AND project_id = @projectId AND org_id = @orgId AND {VisibleSql}
              AND (draft_user_id IS NULL OR draft_user_id = @UserId)
            """,
            new { holder.UserId, holder.UserName, now, datasetId, projectId, orgId }, transaction, cancellationToken: cancellationToken));
        var (outcome, current) = await ResolveAsync(connection, transaction, orgId, projectId, datasetId, cancellationToken);
        if (current is null)
        {
            return (outcome, null);
        }

        if (taken == 0)
        {
            return (DatasetOutcome.LockedByOther, current);
        }

        await transaction.CommitAsync(cancellationToken);
        return (DatasetOutcome.Done, current);
    }

    public async Task<(DatasetOutcome Outcome, DatasetRow? Dataset)> UnlockDraftAsync(string orgId, string projectId, string datasetId, string userId, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        var released = await connection.ExecuteAsync(new CommandDefinition(
            $"""
            UPDATE llm_datasets
            SET draft_since = CASE WHEN draft_user_id IS NULL THEN draft_since ELSE @now END, draft_user_id = NULL, draft_user_name = NULL
            WHERE id = @datasetId AND project_id = @projectId AND org_id = @orgId AND {VisibleSql}
              AND (draft_user_id IS NULL OR draft_user_id = @userId)
            """,
            new { now, datasetId, projectId, orgId, userId }, transaction, cancellationToken: cancellationToken));
        var (outcome, current) = await ResolveAsync(connection, transaction, orgId, projectId, datasetId, cancellationToken);
        if (current is null)
        {
            return (outcome, null);
        }

        if (released == 0)
        {
            return (DatasetOutcome.NotLockHolder, current);
        }

        await transaction.CommitAsync(cancellationToken);
        return (DatasetOutcome.Done, current);
    }

    /// <summary>
    /// Locks the dataset row for the transaction (PostgreSQL: a row lock; SQLite: the write
    /// transaction already excludes other writers), then reads it: the values a concurrent writer
    /// committed before the lock was granted, never older ones.
    /// </summary>
    internal async Task<(DatasetOutcome Outcome, DatasetRow? Dataset)> LockRowAsync(DbConnection connection, DbTransaction transaction, string orgId, string projectId, string datasetId, CancellationToken cancellationToken)
    {
        await connection.ExecuteAsync(new CommandDefinition(
            $"UPDATE llm_datasets SET current_version = current_version WHERE id = @datasetId AND project_id = @projectId AND org_id = @orgId AND {VisibleSql}",
            new { orgId, projectId, datasetId }, transaction, cancellationToken: cancellationToken));
        return await ResolveAsync(connection, transaction, orgId, projectId, datasetId, cancellationToken);
    }

    internal static async Task<bool> ProjectVisibleAsync(DbConnection connection, DbTransaction? transaction, string orgId, string projectId, CancellationToken cancellationToken) =>
        await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT COUNT(*) FROM llm_projects WHERE id = @projectId AND org_id = @orgId AND deleting_job_id IS NULL",
            new { orgId, projectId }, transaction, cancellationToken: cancellationToken)) > 0;

    /// <summary>Read on every request about a dataset or its records: a kept statement and a mapping by ordinal.</summary>
    internal ValueTask<DatasetRow?> GetAsync(DbConnection connection, DbTransaction? transaction, string orgId, string projectId, string datasetId, CancellationToken cancellationToken) =>
        database.Dialect.QueryRowAsync(
            connection, transaction, GetSql,
            [RowParameter.Of("@datasetId", datasetId), RowParameter.Of("@projectId", projectId), RowParameter.Of("@orgId", orgId)], ReadRow, cancellationToken);

    private const string GetSql = $"SELECT {Columns} FROM llm_datasets WHERE id = @datasetId AND project_id = @projectId AND org_id = @orgId AND {VisibleSql}";

    /// <summary>One row of <see cref="Columns"/>, in that order.</summary>
    private static DatasetRow ReadRow(IRowReader row) => new()
    {
        Id = row.GetString(0),
        OrgId = row.GetString(1),
        ProjectId = row.GetString(2),
        Name = row.GetString(3),
        Description = row.GetNullableString(4),
        Metadata = row.GetNullableString(5),
        CurrentVersion = row.GetInt64(6),
        CreatedAt = row.GetInt64(7),
        UpdatedAt = row.GetInt64(8),
        DraftUserId = row.GetNullableString(9),
        DraftUserName = row.GetNullableString(10),
        DraftSince = row.GetNullableInt64(11),
    };

    /// <summary>The dataset, or which of project and dataset is missing.</summary>
    internal async Task<(DatasetOutcome Outcome, DatasetRow? Dataset)> ResolveAsync(DbConnection connection, DbTransaction? transaction, string orgId, string projectId, string datasetId, CancellationToken cancellationToken)
    {
        var dataset = await GetAsync(connection, transaction, orgId, projectId, datasetId, cancellationToken);
        if (dataset is not null)
        {
            return (DatasetOutcome.Done, dataset);
        }

        return await ProjectVisibleAsync(connection, transaction, orgId, projectId, cancellationToken)
            ? (DatasetOutcome.DatasetNotFound, null)
            : (DatasetOutcome.ProjectNotFound, null);
    }

    /// <summary>
    /// The new <c>updated_at</c> of a dataset whose records change: now, or one past the old value when
    /// that is not older (two writes in one millisecond, or a clock that went back). Every change of
    /// records moves it, so (current_version, updated_at) names one state of the records; the list's
    /// answer cache is keyed on it.
    /// </summary>
    internal const string TouchedUpdatedAtSql = "CASE WHEN @now > updated_at THEN @now ELSE updated_at + 1 END";

    /// <summary>Marks a change of a dataset's records that creates no version (see <see cref="TouchedUpdatedAtSql"/>).</summary>
    internal static Task TouchAsync(DbConnection connection, DbTransaction transaction, string datasetId, long now, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(new CommandDefinition(
            $"UPDATE llm_datasets SET updated_at = {TouchedUpdatedAtSql} WHERE id = @datasetId", new { datasetId, now }, transaction, cancellationToken: cancellationToken));

    internal static async Task BumpVersionAsync(DbConnection connection, DbTransaction transaction, string datasetId, long version, string versionId, long now, CancellationToken cancellationToken)
    {
        await connection.ExecuteAsync(new CommandDefinition(
            $"UPDATE llm_datasets SET current_version = @version, updated_at = {TouchedUpdatedAtSql} WHERE id = @datasetId",
            new { datasetId, version, now }, transaction, cancellationToken: cancellationToken));
        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO llm_dataset_versions (dataset_id, version_number, id, created_at, last_used) VALUES (@datasetId, @version, @versionId, @now, NULL)",
            new { datasetId, version, versionId, now }, transaction, cancellationToken: cancellationToken));
    }

    /// <summary>Inserts the dataset and its version 0; false (nothing inserted) when the name is taken, also by a concurrent insert.</summary>
    private static async Task<bool> InsertAsync(DbConnection connection, DbTransaction transaction, DatasetRow dataset, string versionId, CancellationToken cancellationToken)
    {
        var inserted = await connection.ExecuteAsync(new CommandDefinition(
            $"INSERT INTO llm_datasets ({Columns}) VALUES (@Id, @OrgId, @ProjectId, @Name, @Description, @Metadata, @CurrentVersion, @CreatedAt, @UpdatedAt, @DraftUserId, @DraftUserName, @DraftSince) ON CONFLICT DO NOTHING",
            dataset, transaction, cancellationToken: cancellationToken));
        if (inserted == 0)
        {
            return false;
        }

        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO llm_dataset_versions (dataset_id, version_number, id, created_at, last_used) VALUES (@Id, 0, @versionId, @CreatedAt, NULL)",
            new { dataset.Id, versionId, dataset.CreatedAt }, transaction, cancellationToken: cancellationToken));
        return true;
    }

    private static async Task<bool> NameTakenAsync(DbConnection connection, DbTransaction? transaction, string projectId, string name, CancellationToken cancellationToken) =>
        await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT COUNT(*) FROM llm_datasets WHERE project_id = @projectId AND name = @name",
            new { projectId, name }, transaction, cancellationToken: cancellationToken)) > 0;

    private static async Task<bool> IsDeletingAsync(DbConnection connection, DbTransaction? transaction, string datasetId, CancellationToken cancellationToken) =>
        await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT COUNT(*) FROM llm_datasets WHERE id = @datasetId AND deleting_job_id IS NOT NULL",
            new { datasetId }, transaction, cancellationToken: cancellationToken)) > 0;
}
