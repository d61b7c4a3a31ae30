using Dapper;

namespace Runledger.Storage.Executions;

public sealed class ConfigurationRow
{
    public required string Id { get; init; }
    public required string ResourceGroup { get; init; }
    public required string Name { get; init; }
    public required string ScenarioId { get; init; }
    public required string ExecutableId { get; init; }

    /// <summary>JSON array of <c>{key, value}</c>.</summary>
    public required string ParameterBindings { get; init; }

    /// <summary>JSON array of <c>{key, artifactId}</c>.</summary>
    public required string InputArtifactBindings { get; init; }

    public long CreatedAt { get; init; }
}

public sealed record ConfigurationQuery(
    string ResourceGroup,
    string? ScenarioId = null,
    IReadOnlyList<string>? ExecutableIds = null,
    string? Search = null,
    bool SearchCaseInsensitive = false,
    int Top = 10_000,
    int Skip = 0);

public interface IConfigurationStore
{
    Task InsertAsync(ConfigurationRow row, CancellationToken cancellationToken);

    Task<ConfigurationRow?> GetAsync(string resourceGroup, string id, CancellationToken cancellationToken);

    Task<IReadOnlyList<ConfigurationRow>> ListAsync(ConfigurationQuery query, CancellationToken cancellationToken);

    Task<long> CountAsync(ConfigurationQuery query, CancellationToken cancellationToken);
}

public sealed class ConfigurationStore(IDatabase database) : IConfigurationStore
{
    private const string Columns = "id, resource_group, name, scenario_id, executable_id, parameter_bindings, input_artifact_bindings, created_at";

    public async Task InsertAsync(ConfigurationRow row, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            $"INSERT INTO configurations ({Columns}) VALUES (@Id, @ResourceGroup, @Name, @ScenarioId, @ExecutableId, @ParameterBindings, @InputArtifactBindings, @CreatedAt)",
            row, cancellationToken: cancellationToken));
    }

    public async Task<ConfigurationRow?> GetAsync(string resourceGroup, string id, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<ConfigurationRow>(new CommandDefinition(
            $"SELECT {Columns} FROM configurations WHERE resource_group = @resourceGroup AND id = @id",
            new { resourceGroup, id }, cancellationToken: cancellationToken));
    }

    public async Task<IReadOnlyList<ConfigurationRow>> ListAsync(ConfigurationQuery query, CancellationToken cancellationToken)
    {
        var (where, args) = Where(query);
        args.Add("Top", query.Top);
        args.Add("Skip", query.Skip);
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<ConfigurationRow>(new CommandDefinition(
            $"SELECT {Columns} FROM configurations WHERE {where} ORDER BY created_at DESC, id LIMIT @Top OFFSET @Skip",
            args, cancellationToken: cancellationToken));
        return rows.AsList();
    }

    public async Task<long> CountAsync(ConfigurationQuery query, CancellationToken cancellationToken)
    {
        var (where, args) = Where(query);
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            $"SELECT COUNT(*) FROM configurations WHERE {where}", args, cancellationToken: cancellationToken));
    }

    private (string Where, DynamicParameters Args) Where(ConfigurationQuery query)
    {
        var args = new DynamicParameters();
        var where = new List<string> { "resource_group = @ResourceGroup" };
        args.Add("ResourceGroup", query.ResourceGroup);
        if (query.ScenarioId is not null)
        {
            where.Add("scenario_id = @ScenarioId");
            args.Add("ScenarioId", query.ScenarioId);
        }

        if (query.ExecutableIds is { Count: > 0 })
        {
            where.Add(database.Dialect.InListSql("executable_id", "@ExecutableIds"));
            args.Add("ExecutableIds", query.ExecutableIds);
        }

        if (query.Search is not null)
        {
            where.Add(query.SearchCaseInsensitive
                ? database.Dialect.ContainsSql("LOWER(name)", "LOWER(@Search)")
                : database.Dialect.ContainsSql("name", "@Search"));
            args.Add("Search", query.Search);
        }

        return (string.Join(" AND ", where), args);
    }
}
