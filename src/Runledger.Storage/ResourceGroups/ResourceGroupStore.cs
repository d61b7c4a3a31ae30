using Dapper;

namespace Runledger.Storage.ResourceGroups;

public sealed class ResourceGroupRow
{
    public required string Id { get; init; }
    public required string TenantId { get; init; }
    public required string Labels { get; init; }
    public required string Status { get; init; }
    public long CreatedAt { get; init; }
    public long ModifiedAt { get; init; }
    public string? DeletingJobId { get; init; }
}

public enum CreateOutcome
{
    Created,
    AlreadyExists,
    BeingDeleted,
}

public interface IResourceGroupStore
{
    /// <summary>Groups readers may see: not being deleted. Ordered by id.</summary>
    Task<IReadOnlyList<ResourceGroupRow>> ListVisibleAsync(CancellationToken cancellationToken);

    Task<ResourceGroupRow?> GetVisibleAsync(string id, CancellationToken cancellationToken);

    /// <summary>
    /// Whether the group exists and is not being deleted: the check of every tenant-scoped request,
    /// so a yes is remembered briefly (<see cref="LookupCache"/>; scheduling any deletion forgets it).
    /// </summary>
    Task<bool> IsVisibleAsync(string id, CancellationToken cancellationToken);

    /// <summary>Also returns a group whose deletion is under way (its <c>DeletingJobId</c> is set).</summary>
    Task<ResourceGroupRow?> GetAnyAsync(string id, CancellationToken cancellationToken);

    Task<CreateOutcome> CreateAsync(ResourceGroupRow row, CancellationToken cancellationToken);

    Task<bool> UpdateLabelsAsync(string id, string labelsJson, long now, CancellationToken cancellationToken);
}

public sealed class ResourceGroupStore(IDatabase database, LookupCache cache) : IResourceGroupStore
{
    private const string Columns = "id, tenant_id, labels, status, created_at, modified_at, deleting_job_id";

    public async Task<IReadOnlyList<ResourceGroupRow>> ListVisibleAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<ResourceGroupRow>(new CommandDefinition(
            $"SELECT {Columns} FROM resource_groups WHERE deleting_job_id IS NULL ORDER BY id",
            cancellationToken: cancellationToken));
        return rows.AsList();
    }

    public async Task<ResourceGroupRow?> GetVisibleAsync(string id, CancellationToken cancellationToken)
    {
        var row = await GetAnyAsync(id, cancellationToken);
        return row is { DeletingJobId: null } ? row : null;
    }

    public async Task<bool> IsVisibleAsync(string id, CancellationToken cancellationToken)
    {
        var key = "resource-group:" + id;
        if (cache.TryGet<string>(key, out _))
        {
            return true;
        }

        var version = cache.Version;
        if (await GetVisibleAsync(id, cancellationToken) is null)
        {
            return false;
        }

        cache.Remember(key, id, version);
        return true;
    }

    public async Task<ResourceGroupRow?> GetAnyAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<ResourceGroupRow>(new CommandDefinition(
            $"SELECT {Columns} FROM resource_groups WHERE id = @id", new { id }, cancellationToken: cancellationToken));
    }

    public async Task<CreateOutcome> CreateAsync(ResourceGroupRow row, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);

        // Insert-or-nothing in one statement: a look-up first raced on PostgreSQL, where two creators
        // (two nodes starting at once, each making the default group) both saw no row and the second
        // insert failed with a duplicate key.
        var inserted = await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO resource_groups (id, tenant_id, labels, status, created_at, modified_at) VALUES (@Id, @TenantId, @Labels, @Status, @CreatedAt, @ModifiedAt) ON CONFLICT (id) DO NOTHING",
            row, transaction, cancellationToken: cancellationToken));
        if (inserted == 0)
        {
            var existing = await connection.QuerySingleOrDefaultAsync<ResourceGroupRow>(new CommandDefinition(
                $"SELECT {Columns} FROM resource_groups WHERE id = @Id", new { row.Id }, transaction, cancellationToken: cancellationToken));
            return existing?.DeletingJobId is null ? CreateOutcome.AlreadyExists : CreateOutcome.BeingDeleted;
        }

        await transaction.CommitAsync(cancellationToken);
        return CreateOutcome.Created;
    }

    public async Task<bool> UpdateLabelsAsync(string id, string labelsJson, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var changed = await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE resource_groups SET labels = @labelsJson, modified_at = @now WHERE id = @id AND deleting_job_id IS NULL",
            new { id, labelsJson, now }, cancellationToken: cancellationToken));
        return changed == 1;
    }
}
