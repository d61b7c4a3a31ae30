using System.Data.Common;
using System.Text;
using Dapper;

namespace Runledger.Storage.LlmObs;

public sealed class ExperimentRow
{
    public required string Id { get; init; }
    public required string OrgId { get; init; }
    public required string ProjectId { get; init; }
    public string? DatasetId { get; set; }
    public long? DatasetVersion { get; set; }

    /// <summary>The run name; unique in the project when the experiment was created with ensure_unique.</summary>
    public required string Name { get; set; }

    /// <summary>The logical name the client asked for, shared by every run of one pipeline.</summary>
    public required string Experiment { get; init; }

    public string? Description { get; set; }

    /// <summary>JSON object text or null.</summary>
    public string? Config { get; init; }

    /// <summary>JSON object text or null.</summary>
    public string? Metadata { get; set; }

    public required string Status { get; set; }
    public string? Error { get; set; }
    public int? RunCount { get; init; }
    public string? ParentExperimentId { get; init; }

    /// <summary>The credential id of the application key that created it.</summary>
    public required string AuthorId { get; init; }

    public long CreatedAt { get; init; }
    public long UpdatedAt { get; set; }

    /// <summary>When it was soft-deleted: its deletion job's request time (read only).</summary>
    public long? DeletedAt { get; init; }

    /// <summary>Only filled when the list asks for dataset names (read only).</summary>
    public string? DatasetName { get; init; }
}

public sealed record ExperimentQuery(string OrgId, int Limit)
{
    public string? ProjectId { get; init; }
    public string? DatasetId { get; init; }
    public IReadOnlyList<string> Ids { get; init; } = [];
    public string? Name { get; init; }
    public string? Experiment { get; init; }

    /// <summary>A JSON object the experiment's metadata must contain.</summary>
    public string? Metadata { get; init; }

    public IReadOnlyList<string> ParentIds { get; init; } = [];

    /// <summary>True: only soft-deleted experiments (still within retention); false: only live ones.</summary>
    public bool Deleted { get; init; }

    public bool IncludeDatasetNames { get; init; }
    public PageCursor? After { get; init; }
}

public enum ExperimentWriteOutcome
{
    Done,
    NotFound,
    ProjectNotFound,
    DatasetNotFound,
    DatasetVersionOutOfRange,
    ParentNotFound,
}

/// <summary>What the create path needs to know about a dataset: the current version, or null when it does not exist.</summary>
public sealed class DatasetReference
{
    public required string DatasetId { get; init; }
    public long CurrentVersion { get; init; }
}

public interface IExperimentStore
{
    /// <summary>
    /// Creates the experiment in ONE write transaction: the project must be live (its row is locked,
    /// which orders concurrent creates in a project), the dataset (when given) must be live in that
    /// project and the version in range, and the parent must exist in the organisation. With
    /// <paramref name="ensureUnique"/> the run name gets the first free suffix (<c>name-2</c>, <c>name-3</c>…).
    /// </summary>
    Task<(ExperimentWriteOutcome Outcome, ExperimentRow? Experiment)> CreateAsync(ExperimentRow experiment, bool ensureUnique, CancellationToken cancellationToken);

    Task<IReadOnlyList<ExperimentRow>> ListAsync(ExperimentQuery query, CancellationToken cancellationToken);

    /// <summary>The experiment if it exists in the organisation, soft-deleted or not (null once purged).</summary>
    Task<ExperimentRow?> GetAsync(string orgId, string id, CancellationToken cancellationToken);

    /// <summary>Applies <paramref name="change"/> to the live experiment and stores it; a new dataset id must be live in the experiment's project.</summary>
    Task<(ExperimentWriteOutcome Outcome, ExperimentRow? Experiment)> UpdateAsync(string orgId, string id, string? newDatasetId, Action<ExperimentRow> change, long now, CancellationToken cancellationToken);
}

public sealed class ExperimentStore(IDatabase database) : IExperimentStore
{
    private const string Columns =
        "e.id, e.org_id, e.project_id, e.dataset_id, e.dataset_version, e.name, e.experiment, e.description, e.config, e.metadata, " +
        "e.status, e.error, e.run_count, e.parent_experiment_id, e.author_id, e.created_at, e.updated_at";

    // deleted_at is the request time of the job that soft-deleted the experiment.
    private const string From = "FROM llm_experiments e LEFT JOIN deletion_jobs j ON j.id = e.deleting_job_id";

    // A project being deleted takes its experiments out of sight at once, as it does its datasets.
    private const string ProjectLive = "EXISTS (SELECT 1 FROM llm_projects p WHERE p.id = e.project_id AND p.deleting_job_id IS NULL)";

    public async Task<(ExperimentWriteOutcome Outcome, ExperimentRow? Experiment)> CreateAsync(ExperimentRow experiment, bool ensureUnique, CancellationToken cancellationToken)
    {
        using var turn = await database.EnterWriteQueueAsync(cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        var project = await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE llm_projects SET updated_at = updated_at WHERE id = @ProjectId AND org_id = @OrgId AND deleting_job_id IS NULL",
            experiment, transaction, cancellationToken: cancellationToken));
        if (project != 1)
        {
            return (ExperimentWriteOutcome.ProjectNotFound, null);
        }

        if (experiment.DatasetId is not null)
        {
            var dataset = await FindDatasetAsync(connection, transaction, experiment.ProjectId, experiment.DatasetId, cancellationToken);
            if (dataset is null)
            {
                return (ExperimentWriteOutcome.DatasetNotFound, null);
            }

            experiment.DatasetVersion ??= dataset.CurrentVersion;
            if (experiment.DatasetVersion < 0 || experiment.DatasetVersion > dataset.CurrentVersion
                || !await VersionKeptAsync(connection, transaction, experiment.DatasetId, experiment.DatasetVersion!.Value, cancellationToken))
            {
                return (ExperimentWriteOutcome.DatasetVersionOutOfRange, null);
            }
        }

        if (experiment.ParentExperimentId is not null)
        {
            var parent = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
                "SELECT COUNT(*) FROM llm_experiments WHERE id = @ParentExperimentId AND org_id = @OrgId",
                experiment, transaction, cancellationToken: cancellationToken));
            if (parent == 0)
            {
                return (ExperimentWriteOutcome.ParentNotFound, null);
            }
        }

        if (ensureUnique)
        {
            // Run names already used in the project by live or soft-deleted experiments.
            var taken = (await connection.QueryAsync<string>(new CommandDefinition(
                "SELECT name FROM llm_experiments WHERE project_id = @ProjectId AND (name = @Name OR substr(name, 1, length(@Name) + 1) = @Prefix)",
                new { experiment.ProjectId, experiment.Name, Prefix = experiment.Name + "-" }, transaction, cancellationToken: cancellationToken))).ToHashSet(StringComparer.Ordinal);
            var candidate = experiment.Name;
            for (var n = 2; taken.Contains(candidate); n++)
            {
                candidate = $"{experiment.Name}-{n}";
            }

            experiment.Name = candidate;
        }

        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO llm_experiments (id, org_id, project_id, dataset_id, dataset_version, name, experiment, description, config, metadata,
                status, error, run_count, parent_experiment_id, author_id, created_at, updated_at)
            VALUES (@Id, @OrgId, @ProjectId, @DatasetId, @DatasetVersion, @Name, @Experiment, @Description, @Config, @Metadata,
                @Status, @Error, @RunCount, @ParentExperimentId, @AuthorId, @CreatedAt, @UpdatedAt)
            """,
            experiment, transaction, cancellationToken: cancellationToken));
        if (experiment.DatasetId is not null)
        {
            await MarkVersionUsedAsync(connection, transaction, experiment.DatasetId, experiment.DatasetVersion!.Value, experiment.CreatedAt, cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return (ExperimentWriteOutcome.Done, experiment);
    }

    public async Task<IReadOnlyList<ExperimentRow>> ListAsync(ExperimentQuery query, CancellationToken cancellationToken)
    {
        var dialect = database.Dialect;
        var sql = new StringBuilder($"SELECT {Columns}, j.requested_at AS deleted_at");
        sql.Append(query.IncludeDatasetNames ? $", {DatasetNameSql} AS dataset_name " : " ");
        sql.Append(From).Append(" WHERE e.org_id = @OrgId AND ").Append(ProjectLive);
        sql.Append(query.Deleted ? " AND e.deleting_job_id IS NOT NULL" : " AND e.deleting_job_id IS NULL");
        AppendIf(query.ProjectId is not null, " AND e.project_id = @ProjectId");
        AppendIf(query.DatasetId is not null, " AND e.dataset_id = @DatasetId");
        AppendIf(query.Ids.Count > 0, " AND " + dialect.InListSql("e.id", "@Ids"));
        AppendIf(query.Name is not null, " AND e.name = @Name");
        AppendIf(query.Experiment is not null, " AND e.experiment = @Experiment");
        AppendIf(query.Metadata is not null, " AND e.metadata IS NOT NULL AND " + dialect.JsonContainsSql("e.metadata", "@Metadata"));
        AppendIf(query.ParentIds.Count > 0, " AND " + dialect.InListSql("e.parent_experiment_id", "@ParentIds"));
        AppendIf(query.After is not null, " AND (e.created_at < @AfterCreated OR (e.created_at = @AfterCreated AND e.id < @AfterId))");
        sql.Append(" ORDER BY e.created_at DESC, e.id DESC LIMIT @Limit");

        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<ExperimentRow>(new CommandDefinition(
            sql.ToString(),
            new
            {
                query.OrgId,
                query.ProjectId,
                query.DatasetId,
                Ids = query.Ids.ToArray(),
                query.Name,
                query.Experiment,
                query.Metadata,
                ParentIds = query.ParentIds.ToArray(),
                AfterCreated = query.After?.CreatedAt,
                AfterId = query.After?.Id,
                query.Limit,
            },
            cancellationToken: cancellationToken));
        return rows.AsList();

        void AppendIf(bool condition, string predicate)
        {
            if (condition)
            {
                sql.Append(predicate);
            }
        }
    }

    public async Task<ExperimentRow?> GetAsync(string orgId, string id, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<ExperimentRow>(new CommandDefinition(
            $"SELECT {Columns}, j.requested_at AS deleted_at {From} WHERE e.id = @id AND e.org_id = @orgId AND {ProjectLive}",
            new { orgId, id }, cancellationToken: cancellationToken));
    }

    public async Task<(ExperimentWriteOutcome Outcome, ExperimentRow? Experiment)> UpdateAsync(string orgId, string id, string? newDatasetId, Action<ExperimentRow> change, long now, CancellationToken cancellationToken)
    {
        using var turn = await database.EnterWriteQueueAsync(cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        // A no-op update first: it finds the live experiment and locks its row for this transaction
        // (a read lock upgraded later could deadlock two concurrent updates on PostgreSQL).
        var live = await connection.ExecuteAsync(new CommandDefinition(
            $"UPDATE llm_experiments SET updated_at = updated_at WHERE id = @id AND org_id = @orgId AND deleting_job_id IS NULL AND {ProjectLive.Replace("e.project_id", "llm_experiments.project_id", StringComparison.Ordinal)}",
            new { orgId, id }, transaction, cancellationToken: cancellationToken));
        if (live != 1)
        {
            return (ExperimentWriteOutcome.NotFound, null);
        }

        var current = await connection.QuerySingleAsync<ExperimentRow>(new CommandDefinition(
            $"SELECT {Columns} FROM llm_experiments e WHERE e.id = @id", new { id }, transaction, cancellationToken: cancellationToken));

        if (newDatasetId is not null && newDatasetId != current.DatasetId)
        {
            var dataset = await FindDatasetAsync(connection, transaction, current.ProjectId, newDatasetId, cancellationToken);
            if (dataset is null)
            {
                return (ExperimentWriteOutcome.DatasetNotFound, null);
            }

            // Another dataset: the experiment now runs against that dataset's current version.
            current.DatasetId = newDatasetId;
            current.DatasetVersion = dataset.CurrentVersion;
            await MarkVersionUsedAsync(connection, transaction, newDatasetId, dataset.CurrentVersion, now, cancellationToken);
        }

        change(current);
        current.UpdatedAt = now;
        await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE llm_experiments SET name = @Name, description = @Description, dataset_id = @DatasetId, dataset_version = @DatasetVersion,
                metadata = @Metadata, status = @Status, error = @Error, updated_at = @UpdatedAt
            WHERE id = @Id
            """,
            current, transaction, cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
        return (ExperimentWriteOutcome.Done, current);
    }

    // Datasets are another feature's tables (0007); these three statements are all this store assumes of them.
    private const string DatasetNameSql = "(SELECT d.name FROM llm_datasets d WHERE d.id = e.dataset_id)";

    private static Task<DatasetReference?> FindDatasetAsync(DbConnection connection, DbTransaction transaction, string projectId, string datasetId, CancellationToken cancellationToken) =>
        connection.QuerySingleOrDefaultAsync<DatasetReference?>(new CommandDefinition(
            "SELECT id AS dataset_id, current_version FROM llm_datasets WHERE id = @datasetId AND project_id = @projectId AND deleting_job_id IS NULL",
            new { projectId, datasetId }, transaction, cancellationToken: cancellationToken));

    /// <summary>
    /// The version still exists and no open dataset-version retention job (kind
    /// <c>llm_dataset_versions_expired</c>, whose cutoff it is older than) is removing it: referencing
    /// it now would keep a version whose records are already being reclaimed.
    /// </summary>
    private static async Task<bool> VersionKeptAsync(DbConnection connection, DbTransaction transaction, string datasetId, long version, CancellationToken cancellationToken) =>
        await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            """
            SELECT COUNT(*) FROM llm_dataset_versions v
            WHERE v.dataset_id = @datasetId AND v.version_number = @version
              AND NOT EXISTS (SELECT 1 FROM deletion_jobs j
                              WHERE j.kind = 'llm_dataset_versions_expired' AND j.target_id = v.dataset_id AND j.state IN ('queued', 'running')
                                AND COALESCE(v.last_used, v.created_at) < j.cutoff)
            """,
            new { datasetId, version }, transaction, cancellationToken: cancellationToken)) > 0;

    /// <summary>
    /// An experiment that references a dataset version keeps it alive: the version's last_used
    /// moves forward, and dataset-version retention also skips any version a live experiment names.
    /// </summary>
    private static async Task MarkVersionUsedAsync(DbConnection connection, DbTransaction transaction, string datasetId, long version, long now, CancellationToken cancellationToken) =>
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE llm_dataset_versions SET last_used = @now WHERE dataset_id = @datasetId AND version_number = @version",
            new { datasetId, version, now }, transaction, cancellationToken: cancellationToken));
}
