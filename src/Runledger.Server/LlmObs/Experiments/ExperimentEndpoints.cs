using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Primitives;
using Runledger.Server.AiApi.ResourceGroups;
using Runledger.Server.Auth;
using Runledger.Server.Hosting;
using Runledger.Server.Lifecycle;
using Runledger.Server.LlmObs.Projects;
using Runledger.Storage.LlmObs;

namespace Runledger.Server.LlmObs.Experiments;

/// <summary>
/// <c>/api/v2/llm-obs/v1/experiments</c>: ListLLMObsExperiments, CreateLLMObsExperiment,
/// UpdateLLMObsExperiment and DeleteLLMObsExperiments (a soft delete through the lifecycle engine).
/// </summary>
public static class ExperimentEndpoints
{
    public const string Type = "experiments";
    public const int NameMaxLength = 255;
    public const int DescriptionMaxLength = 5000;

    /// <summary>Ids per delete request (the spec states no limit; one request is one transaction).</summary>
    public const int MaxDeleteIds = 1000;

    public static readonly string[] Statuses = ["running", "completed", "failed", "interrupted"];

    public static RouteGroupBuilder MapExperiments(this RouteGroupBuilder v1)
    {
        v1.MapGet("/experiments", ListAsync);
        v1.MapPost("/experiments", CreateAsync).RequireAuthorization(Policies.LlmObsWrite);
        v1.MapPost("/experiments/delete", DeleteAsync).RequireAuthorization(Policies.LlmObsWrite);
        v1.MapPatch("/experiments/{experimentId}", UpdateAsync).RequireAuthorization(Policies.LlmObsWrite);
        return v1;
    }

    public static async Task<Results<JsonHttpResult<ExperimentListResponse>, ErrorResult>> ListAsync(HttpContext context, IExperimentStore experiments)
    {
        var query = context.Request.Query;
        var projectId = Single(query, "filter[project_id]");
        var datasetId = Single(query, "filter[dataset_id]");
        if (projectId is null && datasetId is null)
        {
            return JsonApi.InvalidParameter("filter[project_id]", "filter[project_id] is required unless filter[dataset_id] is given; name the project (or the dataset) whose experiments to list.").ToResult();
        }

        var (limit, limitError) = JsonApi.PageLimit(query, JsonApi.MaxPageLimit);
        var (cursor, cursorError) = JsonApi.Cursor(query);
        var (deleted, deletedError) = Flag(query, "filter[is_deleted]");
        var (datasetNames, namesError) = Flag(query, "include[dataset_names]");
        var (userData, userError) = Flag(query, "include[user_data]");
        var metadata = Single(query, "filter[metadata]");
        var metadataError = metadata is not null && !IsJsonObject(metadata)
            ? JsonApi.InvalidParameter("filter[metadata]", "filter[metadata] must be a JSON object such as {\"commit\":\"abc123\",\"branch\":\"main\"}.")
            : null;
        if ((limitError ?? cursorError ?? deletedError ?? namesError ?? userError ?? metadataError) is { } error)
        {
            return error.ToResult();
        }

        var rows = await experiments.ListAsync(
            new ExperimentQuery(ProjectEndpoints.Org(context), limit + 1)
            {
                ProjectId = projectId,
                DatasetId = datasetId,
                Ids = Many(query, "filter[id]"),
                Name = Single(query, "filter[name]"),
                Experiment = Single(query, "filter[experiment]"),
                Metadata = metadata,
                ParentIds = Many(query, "filter[parent_experiment_id]"),
                Deleted = deleted,
                IncludeDatasetNames = datasetNames,
                After = cursor,
            },
            context.RequestAborted);
        var page = rows.Take(limit).ToList();
        var after = rows.Count > limit ? JsonApi.EncodeCursor(page[^1].CreatedAt, page[^1].Id) : null;
        return TypedResults.Json(
            new ExperimentListResponse(page.Select(row => Data(row, datasetNames, userData)).ToList(), new CursorMeta(after)),
            ExperimentJson.Default.ExperimentListResponse);
    }

    public static async Task<Results<JsonHttpResult<ExperimentResponse>, ErrorResult>> CreateAsync(HttpContext context, IExperimentStore experiments, TimeProvider time)
    {
        var (attributes, _, error) = await JsonApi.ReadDataAsync(context, Type);
        if (error is not null)
        {
            return error.ToResult();
        }

        var a = attributes!;
        var projectId = JsonApi.TextAttribute(a, "project_id", required: true);
        var name = JsonApi.TextAttribute(a, "name", required: true, maxLength: NameMaxLength);
        var datasetId = JsonApi.TextAttribute(a, "dataset_id");
        var description = JsonApi.TextAttribute(a, "description", nullable: true, maxLength: DescriptionMaxLength);
        var parentId = JsonApi.TextAttribute(a, "parent_experiment_id", nullable: true);
        var datasetVersion = Integer(a, "dataset_version", 0, long.MaxValue);
        var runCount = Integer(a, "run_count", 0, int.MaxValue);
        var ensureUnique = Boolean(a, "ensure_unique");
        var config = ObjectAttribute(a, "config");
        var metadata = ObjectAttribute(a, "metadata");
        if ((projectId.Error ?? name.Error ?? datasetId.Error ?? description.Error ?? parentId.Error ?? datasetVersion.Error ?? runCount.Error
             ?? ensureUnique.Error ?? config.Error ?? metadata.Error) is { } invalid)
        {
            return invalid.ToResult();
        }

        if (datasetVersion.Value is not null && datasetId.Value is null)
        {
            return JsonApi.Invalid("/data/attributes/dataset_version", "dataset_version needs dataset_id: name the dataset whose version the experiment runs on.").ToResult();
        }

        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var row = new ExperimentRow
        {
            Id = Guid.NewGuid().ToString(),
            OrgId = ProjectEndpoints.Org(context),
            ProjectId = projectId.Value!,
            DatasetId = datasetId.Value,
            DatasetVersion = datasetVersion.Value,
            Name = name.Value!,
            Experiment = name.Value!,
            Description = description.Value,
            Config = config.Value?.ToJsonString(),
            Metadata = metadata.Value?.ToJsonString(),
            Status = "running",
            RunCount = (int?)runCount.Value,
            ParentExperimentId = parentId.Value,
            AuthorId = context.User.Actor(),
            CreatedAt = now,
            UpdatedAt = now,
        };

        // ensure_unique (default true): the run name is made unique in the project with the first
        // free suffix ("name-2", "name-3", …); `experiment` keeps the name as asked. With false the
        // name is used as given, even when another run already has it. So a create always creates: 201.
        // The spec declares 200 too but documents no case for it (projects and datasets document
        // "returns the existing one" on a name conflict; experiments do not), so 200 is never answered.
        var (outcome, created) = await experiments.CreateAsync(row, ensureUnique.Value ?? true, context.RequestAborted);
        return outcome switch
        {
            ExperimentWriteOutcome.Done => TypedResults.Json(new ExperimentResponse(Data(created!, false, false)), ExperimentJson.Default.ExperimentResponse, statusCode: StatusCodes.Status201Created),
            ExperimentWriteOutcome.ProjectNotFound => JsonApi.Invalid("/data/attributes/project_id", $"Project '{row.ProjectId}' does not exist (or is being deleted); create it first with POST /api/v2/llm-obs/v1/projects.").ToResult(),
            ExperimentWriteOutcome.DatasetNotFound => JsonApi.Invalid("/data/attributes/dataset_id", $"Dataset '{row.DatasetId}' does not exist in project '{row.ProjectId}' (or is being deleted).").ToResult(),
            ExperimentWriteOutcome.DatasetVersionOutOfRange => JsonApi.Invalid("/data/attributes/dataset_version", $"Dataset '{row.DatasetId}' has no version {row.DatasetVersion}; use a version between 0 and its current_version.").ToResult(),
            _ => JsonApi.Invalid("/data/attributes/parent_experiment_id", $"Parent experiment '{row.ParentExperimentId}' does not exist.").ToResult(),
        };
    }

    public static async Task<Results<JsonHttpResult<ExperimentResponse>, ErrorResult>> UpdateAsync(string experimentId, HttpContext context, IExperimentStore experiments, TimeProvider time)
    {
        var (attributes, _, error) = await JsonApi.ReadDataAsync(context, Type);
        if (error is not null)
        {
            return error.ToResult();
        }

        var a = attributes!;
        var name = JsonApi.TextAttribute(a, "name", maxLength: NameMaxLength);
        var description = JsonApi.TextAttribute(a, "description", nullable: true, maxLength: DescriptionMaxLength);
        var datasetId = JsonApi.TextAttribute(a, "dataset_id");
        var status = JsonApi.TextAttribute(a, "status");
        var failure = JsonApi.TextAttribute(a, "error", nullable: true, maxLength: DescriptionMaxLength);
        var metadata = ObjectAttribute(a, "metadata");
        if ((name.Error ?? description.Error ?? datasetId.Error ?? status.Error ?? failure.Error ?? metadata.Error) is { } invalid)
        {
            return invalid.ToResult();
        }

        if (name.Present && string.IsNullOrWhiteSpace(name.Value))
        {
            return JsonApi.Invalid("/data/attributes/name", "'name' must not be empty.").ToResult();
        }

        if (datasetId.Present && string.IsNullOrWhiteSpace(datasetId.Value))
        {
            return JsonApi.Invalid("/data/attributes/dataset_id", "'dataset_id' must not be empty.").ToResult();
        }

        if (status.Value is not null && !Statuses.Contains(status.Value, StringComparer.Ordinal))
        {
            return JsonApi.Invalid("/data/attributes/status", $"'status' is '{status.Value}'; it must be one of: {string.Join(", ", Statuses)}.").ToResult();
        }

        var (outcome, updated) = await experiments.UpdateAsync(
            ProjectEndpoints.Org(context),
            experimentId,
            datasetId.Value,
            row =>
            {
                row.Name = name.Value ?? row.Name;
                row.Description = description.Present ? description.Value : row.Description;
                row.Metadata = metadata.Present ? metadata.Value?.ToJsonString() : row.Metadata;
                row.Status = status.Value ?? row.Status;
                row.Error = failure.Present ? failure.Value : row.Error;
            },
            time.GetUtcNow().ToUnixTimeMilliseconds(),
            context.RequestAborted);
        return outcome switch
        {
            ExperimentWriteOutcome.Done => TypedResults.Json(new ExperimentResponse(Data(updated!, false, false)), ExperimentJson.Default.ExperimentResponse),
            ExperimentWriteOutcome.DatasetNotFound => JsonApi.Invalid("/data/attributes/dataset_id", $"Dataset '{datasetId.Value}' does not exist in the experiment's project (or is being deleted).").ToResult(),
            _ => NotFound(experimentId).ToResult(),
        };
    }

    /// <summary>
    /// Soft delete: each experiment is hidden at once and gets a deletion job whose reclaim waits
    /// for the retention period. Unknown ids and experiments already deleted are ignored, so a
    /// repeated request is harmless; a malformed one changes nothing.
    /// </summary>
    public static async Task<Results<NoContent, ErrorResult>> DeleteAsync(HttpContext context, DeletionScheduler scheduler, LlmObsHolds holds)
    {
        var (attributes, _, error) = await JsonApi.ReadDataAsync(context, Type);
        if (error is not null)
        {
            return error.ToResult();
        }

        var (ids, idsError) = IdList(attributes!, "experiment_ids", MaxDeleteIds);
        if (idsError is not null)
        {
            return idsError.ToResult();
        }

        // An experiment inside a held project refuses the whole request (audited): none of its
        // experiments is deleted, and the answer names the first hold met.
        var org = ProjectEndpoints.Org(context);
        var (refused, targets) = await holds.CheckAsync(ExperimentCascade.Kind, ids!, org, context.User.Actor(), context.RequestAborted);
        if (refused is not null)
        {
            return refused.ToResult();
        }

        var results = await scheduler.ScheduleAllOrNoneAsync(ExperimentCascade.Kind, targets, org, context.User.Actor(), context.RequestAborted);
        var jobs = results.OfType<ScheduleResult.Scheduled>().Select(s => s.JobId).ToList();
        if (jobs.Count > 0)
        {
            context.Response.Headers[ResourceGroupEndpoints.DeletionJobHeader] = string.Join(',', jobs);
        }

        return LlmObsHolds.Refusal(ExperimentCascade.Kind, targets, results) is { } late ? late.ToResult() : TypedResults.NoContent();
    }

    public static ApiError NotFound(string experimentId) =>
        ApiError.NotFound("ExperimentNotFound", $"Experiment '{experimentId}' does not exist (or has been deleted).") with { Parameter = "experiment_id" };

    internal static ExperimentData Data(ExperimentRow row, bool withDatasetName, bool withAuthor) => new(
        row.Id,
        Type,
        new ExperimentAttributes(
            row.ProjectId,
            row.DatasetId ?? "",
            row.Name,
            row.Description,
            ParseObject(row.Metadata),
            ParseObject(row.Config),
            DateTimeOffset.FromUnixTimeMilliseconds(row.CreatedAt),
            DateTimeOffset.FromUnixTimeMilliseconds(row.UpdatedAt),
            row.Status,
            row.Experiment,
            row.Error,
            row.DeletedAt is { } deleted ? DateTimeOffset.FromUnixTimeMilliseconds(deleted) : null,
            row.ParentExperimentId)
        {
            DatasetVersion = row.DatasetVersion,
            RunCount = row.RunCount,
            DatasetName = withDatasetName ? row.DatasetName : null,
            Author = withAuthor ? new ExperimentAuthor(row.AuthorId) : null,
        });

    internal static JsonObject? ParseObject(string? json) => json is null ? null : JsonNode.Parse(json) as JsonObject;

    /// <summary>A required, non-empty list of distinct non-empty id strings of at most <paramref name="max"/> items.</summary>
    internal static (List<string>? Ids, ApiError? Error) IdList(JsonObject attributes, string name, int max)
    {
        var pointer = "/data/attributes/" + name;
        if (!attributes.TryGetPropertyValue(name, out var node) || node is not JsonArray array)
        {
            return (null, JsonApi.Invalid(pointer, $"'{name}' is required and must be an array of ids."));
        }

        if (array.Count == 0)
        {
            return (null, JsonApi.Invalid(pointer, $"'{name}' is empty; list 1 to {max} ids."));
        }

        if (array.Count > max)
        {
            return (null, JsonApi.Invalid(pointer, $"'{name}' has {array.Count} ids; at most {max} may be deleted in one request."));
        }

        var ids = new List<string>(array.Count);
        for (var i = 0; i < array.Count; i++)
        {
            if (array[i] is not JsonValue value || value.GetValueKind() != JsonValueKind.String || string.IsNullOrEmpty(value.GetValue<string>()))
            {
                return (null, JsonApi.Invalid($"{pointer}/{i}", $"'{name}[{i}]' must be a non-empty string id."));
            }

            ids.Add(value.GetValue<string>());
        }

        return (ids.Distinct(StringComparer.Ordinal).ToList(), null);
    }

    private static (long? Value, ApiError? Error) Integer(JsonObject attributes, string name, long min, long max)
    {
        if (!attributes.TryGetPropertyValue(name, out var node) || node is null)
        {
            return (null, null);
        }

        return node.GetValueKind() == JsonValueKind.Number && node.AsValue().TryGetValue<long>(out var value) && value >= min && value <= max
            ? (value, null)
            : (null, JsonApi.Invalid("/data/attributes/" + name, $"'{name}' must be a whole number between {min} and {max}."));
    }

    private static (bool? Value, ApiError? Error) Boolean(JsonObject attributes, string name)
    {
        if (!attributes.TryGetPropertyValue(name, out var node) || node is null)
        {
            return (null, null);
        }

        return node.GetValueKind() switch
        {
            JsonValueKind.True => (true, null),
            JsonValueKind.False => (false, null),
            _ => (null, JsonApi.Invalid("/data/attributes/" + name, $"'{name}' must be true or false.")),
        };
    }

    /// <summary>An object attribute: absent → not present; null → present and cleared.</summary>
    private static (JsonObject? Value, bool Present, ApiError? Error) ObjectAttribute(JsonObject attributes, string name)
    {
        if (!attributes.TryGetPropertyValue(name, out var node))
        {
            return (null, false, null);
        }

        return node switch
        {
            null => (null, true, null),
            JsonObject obj => (obj, true, null),
            _ => (null, true, JsonApi.Invalid("/data/attributes/" + name, $"'{name}' must be an object.")),
        };
    }

    private static (bool Value, ApiError? Error) Flag(IQueryCollection query, string name)
    {
        var raw = Single(query, name);
        return raw switch
        {
            null => (false, null),
            _ when bool.TryParse(raw, out var value) => (value, null),
            _ => (false, JsonApi.InvalidParameter(name, $"{name} is '{raw}'; it must be true or false.")),
        };
    }

    private static bool IsJsonObject(string text)
    {
        try
        {
            return JsonNode.Parse(text) is JsonObject;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static string? Single(IQueryCollection query, string name) =>
        query.TryGetValue(name, out var values) && !StringValues.IsNullOrEmpty(values) && values[^1] is { Length: > 0 } value ? value : null;

    /// <summary>"Can be specified multiple times"; a comma-separated value counts as several too.</summary>
    private static List<string> Many(IQueryCollection query, string name) =>
        query.TryGetValue(name, out var values)
            ? values.SelectMany(v => (v ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Distinct(StringComparer.Ordinal).ToList()
            : [];
}
