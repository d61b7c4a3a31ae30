using Dapper;

namespace Runledger.Storage.LlmObs;

public sealed class ProjectRow
{
    public required string Id { get; init; }
    public required string OrgId { get; init; }
    public required string Name { get; init; }
    public string? Description { get; init; }
    public long CreatedAt { get; init; }
    public long UpdatedAt { get; init; }

    /// <summary>Set while the project is being deleted (hidden, its name still reserved); only <see cref="IProjectStore.CreateOrGetAsync"/> reads it.</summary>
    public string? DeletingJobId { get; init; }
}

/// <summary>Position after the last item of a page: lists are newest first, ties broken by id.</summary>
public sealed record PageCursor(long CreatedAt, string Id);

public sealed record ProjectQuery(string OrgId, string? Id, string? Name, PageCursor? After, int Limit);

public enum ProjectUpdateOutcome
{
    Updated,
    NotFound,
    NameTaken,
}

public interface IProjectStore
{
    /// <summary>Visible projects (not being deleted), newest first; at most <c>Limit</c>.</summary>
    Task<IReadOnlyList<ProjectRow>> ListAsync(ProjectQuery query, CancellationToken cancellationToken);

    /// <summary>
    /// Creates the project, or returns the one of that name (Created = false), as the API says. A
    /// project of that name that is being deleted (within grace: restorable) keeps the name; it comes
    /// back with <see cref="ProjectRow.DeletingJobId"/> set and must not be shown.
    /// </summary>
    Task<(ProjectRow Project, bool Created)> CreateOrGetAsync(ProjectRow project, CancellationToken cancellationToken);

    Task<(ProjectUpdateOutcome Outcome, ProjectRow? Project)> UpdateAsync(string orgId, string id, string? name, string? description, bool setDescription, long now, CancellationToken cancellationToken);
}

public sealed class ProjectStore(IDatabase database) : IProjectStore
{
    private const string Columns = "id, org_id, name, description, created_at, updated_at";

    public async Task<IReadOnlyList<ProjectRow>> ListAsync(ProjectQuery query, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<ProjectRow>(new CommandDefinition(
            $"""
            SELECT {Columns} FROM llm_projects
            WHERE org_id = @OrgId AND deleting_job_id IS NULL
              AND (@Id IS NULL OR id = @Id) AND (@Name IS NULL OR name = @Name)
              AND (@AfterCreated IS NULL OR created_at < @AfterCreated OR (created_at = @AfterCreated AND id < @AfterId))
            ORDER BY created_at DESC, id DESC
            LIMIT @Limit
            """,
            new { query.OrgId, query.Id, query.Name, AfterCreated = query.After?.CreatedAt, AfterId = query.After?.Id, query.Limit },
            cancellationToken: cancellationToken));
        return rows.AsList();
    }

    public async Task<(ProjectRow Project, bool Created)> CreateOrGetAsync(ProjectRow project, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        var inserted = await connection.ExecuteAsync(new CommandDefinition(
            $"INSERT INTO llm_projects ({Columns}) VALUES (@Id, @OrgId, @Name, @Description, @CreatedAt, @UpdatedAt) ON CONFLICT (org_id, name) DO NOTHING",
            project, transaction, cancellationToken: cancellationToken));
        var stored = await connection.QuerySingleAsync<ProjectRow>(new CommandDefinition(
            $"SELECT {Columns}, deleting_job_id FROM llm_projects WHERE org_id = @OrgId AND name = @Name", project, transaction, cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
        return (stored, inserted == 1);
    }

    public async Task<(ProjectUpdateOutcome Outcome, ProjectRow? Project)> UpdateAsync(string orgId, string id, string? name, string? description, bool setDescription, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        var current = await connection.QuerySingleOrDefaultAsync<ProjectRow>(new CommandDefinition(
            $"SELECT {Columns} FROM llm_projects WHERE org_id = @orgId AND id = @id AND deleting_job_id IS NULL",
            new { orgId, id }, transaction, cancellationToken: cancellationToken));
        if (current is null)
        {
            return (ProjectUpdateOutcome.NotFound, null);
        }

        if (name is not null && name != current.Name)
        {
            var taken = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
                "SELECT COUNT(*) FROM llm_projects WHERE org_id = @orgId AND name = @name", new { orgId, name }, transaction, cancellationToken: cancellationToken));
            if (taken > 0)
            {
                return (ProjectUpdateOutcome.NameTaken, current);
            }
        }

        var updated = new ProjectRow
        {
            Id = current.Id,
            OrgId = current.OrgId,
            Name = name ?? current.Name,
            Description = setDescription ? description : current.Description,
            CreatedAt = current.CreatedAt,
            UpdatedAt = now,
        };
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE llm_projects SET name = @Name, description = @Description, updated_at = @UpdatedAt WHERE id = @Id",
            updated, transaction, cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
        return (ProjectUpdateOutcome.Updated, updated);
    }
}
