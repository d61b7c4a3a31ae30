using Microsoft.AspNetCore.Http.HttpResults;
using Runledger.Server.Auth;
using Runledger.Server.Hosting;
using Runledger.Storage.LlmObs;

namespace Runledger.Server.LlmObs.Projects;

/// <summary><c>/api/v2/llm-obs/v1/projects</c> (ListLLMObsProjects, CreateLLMObsProject, UpdateLLMObsProject).</summary>
public static class ProjectEndpoints
{
    public const string Type = "projects";
    private const int NameMaxLength = 255;
    private const int DescriptionMaxLength = 5000;

    public static RouteGroupBuilder MapProjects(this RouteGroupBuilder group)
    {
        group.MapGet("/projects", ListAsync);
        group.MapPost("/projects", CreateAsync).RequireAuthorization(Policies.LlmObsWrite);
        group.MapPatch("/projects/{projectId}", UpdateAsync).RequireAuthorization(Policies.LlmObsWrite);
        return group;
    }

    public static async Task<Results<JsonHttpResult<ProjectListResponse>, ErrorResult>> ListAsync(HttpContext context, IProjectStore projects)
    {
        var query = context.Request.Query;
        var (limit, limitError) = JsonApi.PageLimit(query);
        var (cursor, cursorError) = JsonApi.Cursor(query);
        if ((limitError ?? cursorError) is { } error)
        {
            return error.ToResult();
        }

        var rows = await projects.ListAsync(
            new ProjectQuery(Org(context), NonEmpty(query["filter[id]"]), NonEmpty(query["filter[name]"]), cursor, limit + 1),
            context.RequestAborted);
        var page = rows.Take(limit).ToList();
        var after = rows.Count > limit ? JsonApi.EncodeCursor(page[^1].CreatedAt, page[^1].Id) : null;
        return TypedResults.Json(new ProjectListResponse(page.Select(ProjectData.From).ToList(), new CursorMeta(after)), LlmObsJson.Default.ProjectListResponse);
    }

    public static async Task<Results<JsonHttpResult<ProjectResponse>, ErrorResult>> CreateAsync(HttpContext context, IProjectStore projects, TimeProvider time)
    {
        var (attributes, _, error) = await JsonApi.ReadDataAsync(context, Type);
        if (error is not null)
        {
            return error.ToResult();
        }

        var name = JsonApi.TextAttribute(attributes!, "name", required: true, maxLength: NameMaxLength);
        var description = JsonApi.TextAttribute(attributes!, "description", nullable: true, maxLength: DescriptionMaxLength);
        if ((name.Error ?? description.Error) is { } invalid)
        {
            return invalid.ToResult();
        }

        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var (project, created) = await projects.CreateOrGetAsync(
            new ProjectRow { Id = Guid.NewGuid().ToString(), OrgId = Org(context), Name = name.Value!, Description = description.Value, CreatedAt = now, UpdatedAt = now },
            context.RequestAborted);

        // The name of a project being deleted stays reserved until its deletion ends (it may be restored).
        if (project.DeletingJobId is not null)
        {
            return JsonApi.Invalid("/data/attributes/name", $"A project named '{name.Value}' is being deleted; its name stays reserved until the deletion ends (or it is restored); choose another name.").ToResult();
        }

        // "Returns the existing project if a name conflict occurs": 200 instead of 201.
        return TypedResults.Json(new ProjectResponse(ProjectData.From(project)), LlmObsJson.Default.ProjectResponse,
            statusCode: created ? StatusCodes.Status201Created : StatusCodes.Status200OK);
    }

    public static async Task<Results<JsonHttpResult<ProjectResponse>, ErrorResult>> UpdateAsync(string projectId, HttpContext context, IProjectStore projects, TimeProvider time)
    {
        var (attributes, _, error) = await JsonApi.ReadDataAsync(context, Type);
        if (error is not null)
        {
            return error.ToResult();
        }

        var name = JsonApi.TextAttribute(attributes!, "name", maxLength: NameMaxLength);
        var description = JsonApi.TextAttribute(attributes!, "description", nullable: true, maxLength: DescriptionMaxLength);
        if ((name.Error ?? description.Error) is { } invalid)
        {
            return invalid.ToResult();
        }

        if (name.Present && string.IsNullOrWhiteSpace(name.Value))
        {
            return JsonApi.Invalid("/data/attributes/name", "'name' must not be empty.").ToResult();
        }

        var (outcome, project) = await projects.UpdateAsync(Org(context), projectId, name.Value, description.Value, description.Present, time.GetUtcNow().ToUnixTimeMilliseconds(), context.RequestAborted);
        return outcome switch
        {
            ProjectUpdateOutcome.Updated => TypedResults.Json(new ProjectResponse(ProjectData.From(project!)), LlmObsJson.Default.ProjectResponse),
            ProjectUpdateOutcome.NameTaken => JsonApi.Invalid("/data/attributes/name", $"A project named '{name.Value}' already exists; choose another name.").ToResult(),
            _ => (ApiError.NotFound("ProjectNotFound", $"Project '{projectId}' does not exist.") with { Parameter = "project_id" }).ToResult(),
        };
    }

    internal static string Org(HttpContext context) => context.User.FindFirst(AuthClaims.Org)?.Value ?? throw new InvalidOperationException("LLM Obs routes are authenticated; the organisation claim is missing.");

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}

public sealed record ProjectAttributes(string Name, string? Description, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary><c>LLMObsProjectDataResponse</c>.</summary>
public sealed record ProjectData(string Id, string Type, ProjectAttributes Attributes)
{
    public static ProjectData From(ProjectRow row) => new(
        row.Id,
        ProjectEndpoints.Type,
        new ProjectAttributes(row.Name, row.Description, DateTimeOffset.FromUnixTimeMilliseconds(row.CreatedAt), DateTimeOffset.FromUnixTimeMilliseconds(row.UpdatedAt)));
}

public sealed record ProjectResponse(ProjectData Data);

public sealed record ProjectListResponse(List<ProjectData> Data, CursorMeta Meta);
