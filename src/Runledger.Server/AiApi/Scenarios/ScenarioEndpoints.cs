using Microsoft.AspNetCore.Http.HttpResults;
using Runledger.Server.Hosting;
using Runledger.Server.Runner;

namespace Runledger.Server.AiApi.Scenarios;

/// <summary>
/// <c>/v2/lm/scenarios…</c>: read-only views of the workflow templates. Templates are global, so
/// every resource group sees the same scenarios; the header is still required and checked.
/// </summary>
public static class ScenarioEndpoints
{
    public static RouteGroupBuilder MapScenarios(this RouteGroupBuilder group)
    {
        group.MapGet("/scenarios", List);
        group.MapGet("/scenarios/{scenarioId}", Get);
        group.MapGet("/scenarios/{scenarioId}/executables", ListExecutables);
        group.MapGet("/scenarios/{scenarioId}/executables/{executableId}", GetExecutable);
        return group;
    }

    public static JsonHttpResult<ScenarioList> List(TemplateCatalog templates)
    {
        var scenarios = templates.Current.Scenarios.Values.OrderBy(s => s.Id, StringComparer.Ordinal).Select(ScenarioDto.From).ToList();
        return TypedResults.Json(new ScenarioList(scenarios.Count, scenarios), AiApiJson.Default.ScenarioList);
    }

    public static Results<JsonHttpResult<ScenarioDto>, ErrorResult> Get(string scenarioId, TemplateCatalog templates)
    {
        if (Check(scenarioId, "scenarioId") is { } invalid)
        {
            return invalid.ToResult();
        }

        return templates.Current.Scenarios.TryGetValue(scenarioId, out var scenario)
            ? TypedResults.Json(ScenarioDto.From(scenario), AiApiJson.Default.ScenarioDto)
            : ScenarioNotFound(scenarioId).ToResult();
    }

    public static Results<JsonHttpResult<ExecutableList>, ErrorResult> ListExecutables(string scenarioId, string? versionId, TemplateCatalog templates)
    {
        if (Check(scenarioId, "scenarioId") is { } invalid)
        {
            return invalid.ToResult();
        }

        var snapshot = templates.Current;
        if (!snapshot.Scenarios.ContainsKey(scenarioId))
        {
            return ScenarioNotFound(scenarioId).ToResult();
        }

        var executables = snapshot.Executables.Values
            .Where(e => e.ScenarioId == scenarioId && (versionId is null || e.VersionId == versionId))
            .OrderBy(e => e.Id, StringComparer.Ordinal)
            .Select(ExecutableDto.From)
            .ToList();
        return TypedResults.Json(new ExecutableList(executables.Count, executables), AiApiJson.Default.ExecutableList);
    }

    public static Results<JsonHttpResult<ExecutableDto>, ErrorResult> GetExecutable(string scenarioId, string executableId, TemplateCatalog templates)
    {
        if ((Check(scenarioId, "scenarioId") ?? Check(executableId, "executableId")) is { } invalid)
        {
            return invalid.ToResult();
        }

        return templates.Current.Executables.TryGetValue(executableId, out var executable) && executable.ScenarioId == scenarioId
            ? TypedResults.Json(ExecutableDto.From(executable), AiApiJson.Default.ExecutableDto)
            : ApiError.NotFound("ExecutableNotFound", $"Executable '{executableId}' does not exist in scenario '{scenarioId}'.").ToResult();
    }

    private static ApiError? Check(string id, string name) =>
        AiApiQuery.IsId(id) ? null : ApiError.BadRequest("InvalidParameter", $"{name} '{id}' is invalid: use 4 to 64 letters, digits, '_', '.' or '-'.");

    private static ApiError ScenarioNotFound(string id) => ApiError.NotFound("ScenarioNotFound", $"Scenario '{id}' does not exist.");
}

public sealed record LabelDto(string Key, string Value);

/// <summary><c>AiScenario</c>.</summary>
public sealed record ScenarioDto(string Id, string Name, string? Description, List<LabelDto> Labels, string CreatedAt, string ModifiedAt)
{
    public static ScenarioDto From(ScenarioTemplate s) => new(
        s.Id, s.Name, s.Description, s.Labels.Select(l => new LabelDto(l.Key, l.Value)).ToList(),
        AiApiQuery.Time(s.CreatedAt.ToUnixTimeMilliseconds()), AiApiQuery.Time(s.ModifiedAt.ToUnixTimeMilliseconds()));
}

public sealed record ScenarioList(int Count, List<ScenarioDto> Resources);

public sealed record ExecutableParameterDto(string Name, string Type, string? Default, string? Description);

/// <summary><c>AiExecutable</c> (no artifacts: this server's executables declare none).</summary>
public sealed record ExecutableDto(
    string Id,
    string Name,
    string? Description,
    string ScenarioId,
    string VersionId,
    List<ExecutableParameterDto> Parameters,
    List<LabelDto> Labels,
    List<object> InputArtifacts,
    List<object> OutputArtifacts,
    bool Deployable,
    string CreatedAt,
    string ModifiedAt)
{
    public static ExecutableDto From(ExecutableTemplate e) => new(
        e.Id, e.Name, e.Description, e.ScenarioId, e.VersionId,
        e.Parameters.Select(p => new ExecutableParameterDto(p.Name, p.Type, p.Default, p.Description)).ToList(),
        e.Labels.Select(l => new LabelDto(l.Key, l.Value)).ToList(),
        [], [], false,
        AiApiQuery.Time(e.CreatedAt.ToUnixTimeMilliseconds()), AiApiQuery.Time(e.ModifiedAt.ToUnixTimeMilliseconds()));
}

public sealed record ExecutableList(int Count, List<ExecutableDto> Resources);
