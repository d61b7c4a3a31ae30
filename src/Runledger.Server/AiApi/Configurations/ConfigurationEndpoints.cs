using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;
using Runledger.Server.AiApi.Scenarios;
using Runledger.Server.Hosting;
using Runledger.Server.Runner;
using Runledger.Storage.Executions;

namespace Runledger.Server.AiApi.Configurations;

/// <summary><c>/v2/lm/configurations</c>: which executable to run with which parameter values.</summary>
public static partial class ConfigurationEndpoints
{
    public static RouteGroupBuilder MapConfigurations(this RouteGroupBuilder group)
    {
        group.MapPost("/configurations", CreateAsync);
        group.MapGet("/configurations", ListAsync);
        group.MapGet("/configurations/$count", CountAsync);
        group.MapGet("/configurations/{configurationId}", GetAsync);
        return group;
    }

    public static async Task<Results<JsonHttpResult<IdMessage>, ErrorResult>> CreateAsync(HttpContext context, IConfigurationStore store, TemplateCatalog templates, TimeProvider time)
    {
        var body = await JsonBody.ReadAsync(context, AiApiJson.Default.ConfigurationCreateRequest, "application/json");
        if (!body.Ok)
        {
            return body.Error!.ToResult();
        }

        var request = body.Value!;
        if (Validate(request, templates.Current) is { } invalid)
        {
            return invalid.ToResult();
        }

        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var scope = ResourceGroupScope.Of(context);
        await store.InsertAsync(new ConfigurationRow
        {
            Id = id,
            ResourceGroup = scope.Id,
            Name = request.Name!,
            ScenarioId = request.ScenarioId!,
            ExecutableId = request.ExecutableId!,
            ParameterBindings = JsonSerializer.Serialize(request.ParameterBindings ?? [], AiApiJson.Default.ListParameterBinding),
            InputArtifactBindings = "[]",
            CreatedAt = time.GetUtcNow().ToUnixTimeMilliseconds(),
        }, context.RequestAborted);
        context.Response.Headers.Location = $"{context.Request.PathBase}/v2/lm/configurations/{id}";
        return TypedResults.Json(new IdMessage(id, "Configuration created"), AiApiJson.Default.IdMessage, statusCode: StatusCodes.Status201Created);
    }

    public static async Task<Results<JsonHttpResult<ConfigurationList>, ErrorResult>> ListAsync(HttpContext context, IConfigurationStore store, TemplateCatalog templates)
    {
        var (query, expand, error) = ParseQuery(context);
        if (error is not null)
        {
            return error.ToResult();
        }

        var rows = await store.ListAsync(query!, context.RequestAborted);
        var scenarios = templates.Current.Scenarios;
        var resources = rows.Select(r => ConfigurationDto.From(r, expand ? scenarios.GetValueOrDefault(r.ScenarioId) : null)).ToList();
        return TypedResults.Json(new ConfigurationList(resources.Count, resources), AiApiJson.Default.ConfigurationList);
    }

    public static async Task<Results<ContentHttpResult, ErrorResult>> CountAsync(HttpContext context, IConfigurationStore store)
    {
        var (query, _, error) = ParseQuery(context);
        if (error is not null)
        {
            return error.ToResult();
        }

        var count = await store.CountAsync(query! with { Top = int.MaxValue, Skip = 0 }, context.RequestAborted);
        return TypedResults.Text(count.ToString(CultureInfo.InvariantCulture), "text/plain");
    }

    public static async Task<Results<JsonHttpResult<ConfigurationDto>, ErrorResult>> GetAsync(string configurationId, HttpContext context, IConfigurationStore store, TemplateCatalog templates)
    {
        if (!AiApiQuery.IsId(configurationId))
        {
            return AiApiQuery.Invalid($"configurationId '{configurationId}' is invalid: use 4 to 64 letters, digits, '_', '.' or '-'.").ToResult();
        }

        var (expand, expandError) = Expand(context.Request.Query);
        if (expandError is not null)
        {
            return expandError.ToResult();
        }

        var row = await store.GetAsync(ResourceGroupScope.Of(context).Id, configurationId, context.RequestAborted);
        return row is null
            ? ApiError.NotFound("ConfigurationNotFound", $"Configuration '{configurationId}' does not exist in this resource group.").ToResult()
            : TypedResults.Json(ConfigurationDto.From(row, expand ? templates.Current.Scenarios.GetValueOrDefault(row.ScenarioId) : null), AiApiJson.Default.ConfigurationDto);
    }

    private static ApiError? Validate(ConfigurationCreateRequest request, TemplateSnapshot templates)
    {
        if (string.IsNullOrEmpty(request.Name))
        {
            return ApiError.BadRequest("InvalidConfiguration", "name is required.");
        }

        if (request.Name.Length > 256 || !NamePattern().IsMatch(request.Name))
        {
            return ApiError.BadRequest("InvalidConfiguration", "name must be at most 256 characters of letters, digits, spaces and the punctuation .!?,;:[](){}<>\"'=+*/\\^&%@~$#|-.");
        }

        if (string.IsNullOrEmpty(request.ScenarioId) || !AiApiQuery.IsId(request.ScenarioId))
        {
            return ApiError.BadRequest("InvalidConfiguration", $"scenarioId '{request.ScenarioId}' is missing or invalid: use 4 to 64 letters, digits, '_', '.' or '-'.");
        }

        if (string.IsNullOrEmpty(request.ExecutableId) || !AiApiQuery.IsId(request.ExecutableId))
        {
            return ApiError.BadRequest("InvalidConfiguration", $"executableId '{request.ExecutableId}' is missing or invalid: use 4 to 64 letters, digits, '_', '.' or '-'.");
        }

        if (!templates.Scenarios.ContainsKey(request.ScenarioId))
        {
            return ApiError.BadRequest("UnknownScenario", $"Scenario '{request.ScenarioId}' does not exist; GET /v2/lm/scenarios lists the scenarios.");
        }

        if (!templates.Executables.TryGetValue(request.ExecutableId, out var executable) || executable.ScenarioId != request.ScenarioId)
        {
            return ApiError.BadRequest("UnknownExecutable", $"Executable '{request.ExecutableId}' does not exist in scenario '{request.ScenarioId}'; GET /v2/lm/scenarios/{request.ScenarioId}/executables lists them.");
        }

        var bound = new HashSet<string>(StringComparer.Ordinal);
        var bindings = request.ParameterBindings ?? [];
        for (var i = 0; i < bindings.Count; i++)
        {
            var binding = bindings[i];
            if (binding?.Key is not { Length: > 0 and <= 256 } key || binding.Value is not { Length: <= 5000 })
            {
                return ApiError.BadRequest("InvalidParameterBinding", $"parameterBindings[{i}] needs a 'key' of 1 to 256 characters and a 'value' of at most 5000.");
            }

            if (!executable.Parameters.Any(p => p.Name == key))
            {
                var declared = executable.Parameters.Count == 0 ? "none" : string.Join(", ", executable.Parameters.Select(p => p.Name));
                return ApiError.BadRequest("UnknownParameter", $"parameterBindings[{i}]: executable '{executable.Id}' declares no parameter '{key}' (declared: {declared}).");
            }

            if (!bound.Add(key))
            {
                return ApiError.BadRequest("DuplicateParameter", $"parameterBindings[{i}]: parameter '{key}' is bound more than once.");
            }
        }

        var missing = executable.Parameters.FirstOrDefault(p => p.Default is null && !bound.Contains(p.Name));
        if (missing is not null)
        {
            return ApiError.BadRequest("MissingParameter", $"Parameter '{missing.Name}' of executable '{executable.Id}' has no default; bind it in parameterBindings.");
        }

        if (request.InputArtifactBindings is { Count: > 0 } artifacts)
        {
            return ApiError.BadRequest("UnknownInputArtifact", $"inputArtifactBindings[0]: executable '{executable.Id}' declares no input artifact '{artifacts[0]?.Key}'.");
        }

        return null;
    }

    private static (ConfigurationQuery? Query, bool Expand, ApiError? Error) ParseQuery(HttpContext context)
    {
        var query = context.Request.Query;
        var (top, skip, pagingError) = AiApiQuery.Paging(query);
        var (scenarioId, scenarioError) = AiApiQuery.OptionalId(query, "scenarioId");
        var (executableIds, executablesError) = AiApiQuery.ExecutableIds(query);
        var (expand, expandError) = Expand(query);
        if ((pagingError ?? scenarioError ?? executablesError ?? expandError) is { } error)
        {
            return (null, false, error);
        }

        string? search = null;
        if (query.TryGetValue("$search", out var rawSearch))
        {
            search = rawSearch.ToString();
            if (search.Length is 0 or > 80 || search.Contains('~', StringComparison.Ordinal))
            {
                return (null, false, AiApiQuery.Invalid("$search must be 1 to 80 characters and may not contain '~'."));
            }
        }

        var caseInsensitive = false;
        if (query.TryGetValue("searchCaseInsensitive", out var rawCase) && !bool.TryParse(rawCase, out caseInsensitive))
        {
            return (null, false, AiApiQuery.Invalid($"searchCaseInsensitive is '{rawCase}'; use true or false."));
        }

        return (new ConfigurationQuery(ResourceGroupScope.Of(context).Id, scenarioId, executableIds, search, caseInsensitive, top, skip), expand, null);
    }

    private static (bool Expand, ApiError? Error) Expand(IQueryCollection query)
    {
        if (!query.TryGetValue("$expand", out var raw))
        {
            return (false, null);
        }

        return raw == "scenario" ? (true, null) : (false, AiApiQuery.Invalid($"$expand is '{raw}'; the only value is 'scenario'."));
    }

    [GeneratedRegex("""^[\w\s.!?,;:\[\](){}<>"'=+*/\\^&%@~$#|-]*$""")]
    private static partial Regex NamePattern();
}

public sealed record ParameterBinding(string? Key, string? Value);

public sealed record ArtifactBinding(string? Key, string? ArtifactId);

/// <summary><c>AiConfigurationBaseData</c>.</summary>
public sealed record ConfigurationCreateRequest(string? Name, string? ExecutableId, string? ScenarioId, List<ParameterBinding>? ParameterBindings, List<ArtifactBinding>? InputArtifactBindings);

/// <summary><c>AiConfiguration</c>.</summary>
public sealed record ConfigurationDto(
    string Id,
    string Name,
    string ExecutableId,
    string ScenarioId,
    List<ParameterBinding> ParameterBindings,
    List<ArtifactBinding> InputArtifactBindings,
    string CreatedAt,
    ScenarioDto? Scenario)
{
    public static ConfigurationDto From(ConfigurationRow row, ScenarioTemplate? scenario) => new(
        row.Id,
        row.Name,
        row.ExecutableId,
        row.ScenarioId,
        JsonSerializer.Deserialize(row.ParameterBindings, AiApiJson.Default.ListParameterBinding) ?? [],
        [],
        AiApiQuery.Time(row.CreatedAt),
        scenario is null ? null : ScenarioDto.From(scenario));
}

public sealed record ConfigurationList(int Count, List<ConfigurationDto> Resources);
