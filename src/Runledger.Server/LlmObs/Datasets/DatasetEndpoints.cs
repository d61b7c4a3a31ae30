using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
using Runledger.Server.Auth;
using Runledger.Server.Hosting;
using Runledger.Server.LlmObs.Projects;
using Runledger.Storage.Credentials;
using Runledger.Storage.LlmObs;

namespace Runledger.Server.LlmObs.Datasets;

/// <summary>
/// <c>/api/v2/llm-obs/v1/{project_id}/datasets…</c>: ListLLMObsDatasets, CreateLLMObsDataset,
/// UpdateLLMObsDataset, CloneLLMObsDataset, ListLLMObsDatasetVersions, RestoreLLMObsDatasetVersion
/// and the draft state (Get/Lock/Unlock). Deletion is in <see cref="DatasetDeletion"/>, records in Records/.
/// </summary>
public static class DatasetEndpoints
{
    public const string Type = "datasets";
    private const int NameMaxLength = 255;
    private const int DescriptionMaxLength = 5000;

    public static RouteGroupBuilder MapDatasets(this RouteGroupBuilder v1)
    {
        v1.MapGet("/{projectId}/datasets", ListAsync);
        v1.MapPost("/{projectId}/datasets", CreateAsync).RequireAuthorization(Policies.LlmObsWrite);
        v1.MapPatch("/{projectId}/datasets/{datasetId}", UpdateAsync).RequireAuthorization(Policies.LlmObsWrite);
        v1.MapPost("/{projectId}/datasets/{datasetId}/clone", CloneAsync).RequireAuthorization(Policies.LlmObsWrite);
        v1.MapGet("/{projectId}/datasets/{datasetId}/versions", ListVersionsAsync);
        v1.MapPost("/{projectId}/datasets/{datasetId}/restore", RestoreAsync).RequireAuthorization(Policies.LlmObsWrite);
        v1.MapGet("/{projectId}/datasets/{datasetId}/draft_state", GetDraftStateAsync);
        v1.MapPatch("/{projectId}/datasets/{datasetId}/draft_state/lock", LockDraftAsync).RequireAuthorization(Policies.LlmObsWrite);
        v1.MapPatch("/{projectId}/datasets/{datasetId}/draft_state/unlock", UnlockDraftAsync).RequireAuthorization(Policies.LlmObsWrite);
        return v1;
    }

    public static async Task<Results<JsonHttpResult<DatasetListResponse>, ErrorResult>> ListAsync(string projectId, HttpContext context, IDatasetStore datasets)
    {
        var query = context.Request.Query;
        var (limit, limitError) = JsonApi.PageLimit(query);
        var (cursor, cursorError) = JsonApi.Cursor(query);
        if ((limitError ?? cursorError) is { } error)
        {
            return error.ToResult();
        }

        var org = ProjectEndpoints.Org(context);
        if (!await datasets.ProjectVisibleAsync(org, projectId, context.RequestAborted))
        {
            return ProjectNotFound(projectId).ToResult();
        }

        var rows = await datasets.ListAsync(
            new DatasetQuery(org, projectId, NonEmpty(query["filter[id]"]), NonEmpty(query["filter[name]"]), cursor, limit + 1),
            context.RequestAborted);
        var page = rows.Take(limit).ToList();
        var after = rows.Count > limit ? JsonApi.EncodeCursor(page[^1].CreatedAt, page[^1].Id) : null;
        return TypedResults.Json(new DatasetListResponse(page.Select(DatasetData.From).ToList(), new CursorMeta(after)), DatasetJson.Default.DatasetListResponse);
    }

    public static async Task<Results<JsonHttpResult<DatasetResponse>, ErrorResult>> CreateAsync(string projectId, HttpContext context, IDatasetStore datasets, TimeProvider time)
    {
        var (attributes, _, error) = await JsonApi.ReadDataAsync(context, Type);
        if (error is not null)
        {
            return error.ToResult();
        }

        var name = JsonApi.TextAttribute(attributes!, "name", required: true, maxLength: NameMaxLength);
        var description = JsonApi.TextAttribute(attributes!, "description", nullable: true, maxLength: DescriptionMaxLength);
        var metadata = ObjectAttribute(attributes!, "metadata");
        if ((name.Error ?? description.Error ?? metadata.Error) is { } invalid)
        {
            return invalid.ToResult();
        }

        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var row = new DatasetRow
        {
            Id = Guid.NewGuid().ToString(),
            OrgId = ProjectEndpoints.Org(context),
            ProjectId = projectId,
            Name = name.Value!,
            Description = description.Value,
            Metadata = metadata.Json,
            CreatedAt = now,
            UpdatedAt = now,
        };
        var (outcome, dataset, created) = await datasets.CreateOrGetAsync(row, Guid.NewGuid().ToString(), context.RequestAborted);
        if (outcome != DatasetOutcome.Done)
        {
            return OutcomeError(outcome, projectId, "", name.Value).ToResult();
        }

        // Like projects: a name that exists returns the existing dataset with 200.
        return TypedResults.Json(new DatasetResponse(DatasetData.From(dataset!)), DatasetJson.Default.DatasetResponse,
            statusCode: created ? StatusCodes.Status201Created : StatusCodes.Status200OK);
    }

    public static async Task<Results<JsonHttpResult<DatasetResponse>, ErrorResult>> UpdateAsync(string projectId, string datasetId, HttpContext context, IDatasetStore datasets, TimeProvider time)
    {
        var (attributes, _, error) = await JsonApi.ReadDataAsync(context, Type);
        if (error is not null)
        {
            return error.ToResult();
        }

        var name = JsonApi.TextAttribute(attributes!, "name", maxLength: NameMaxLength);
        var description = JsonApi.TextAttribute(attributes!, "description", nullable: true, maxLength: DescriptionMaxLength);
        var metadata = ObjectAttribute(attributes!, "metadata");
        if ((name.Error ?? description.Error ?? metadata.Error) is { } invalid)
        {
            return invalid.ToResult();
        }

        if (name.Present && string.IsNullOrWhiteSpace(name.Value))
        {
            return JsonApi.Invalid("/data/attributes/name", "'name' must not be empty.").ToResult();
        }

        var (outcome, dataset) = await datasets.UpdateAsync(
            ProjectEndpoints.Org(context), projectId, datasetId,
            new DatasetUpdate(name.Value, description.Value, description.Present, metadata.Json, metadata.Present),
            context.User.Actor(), time.GetUtcNow().ToUnixTimeMilliseconds(), context.RequestAborted);
        return outcome switch
        {
            DatasetOutcome.Done => TypedResults.Json(new DatasetResponse(DatasetData.From(dataset!)), DatasetJson.Default.DatasetResponse),
            DatasetOutcome.LockedByOther => DraftLockedByOther(dataset!).ToResult(),
            _ => OutcomeError(outcome, projectId, datasetId, name.Value).ToResult(),
        };
    }

    public static async Task<Results<JsonHttpResult<DatasetResponse>, ErrorResult>> CloneAsync(string projectId, string datasetId, HttpContext context, IDatasetStore datasets, TimeProvider time)
    {
        var (attributes, data, error) = await JsonApi.ReadDataAsync(context, Type);
        if (error is not null)
        {
            return error.ToResult();
        }

        if (DataId(data!, datasetId) is { } idError)
        {
            return idError.ToResult();
        }

        var name = JsonApi.TextAttribute(attributes!, "name", required: true, maxLength: NameMaxLength);
        var description = JsonApi.TextAttribute(attributes!, "description", nullable: true, maxLength: DescriptionMaxLength);
        if ((name.Error ?? description.Error) is { } invalid)
        {
            return invalid.ToResult();
        }

        var org = ProjectEndpoints.Org(context);
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var source = await datasets.GetAsync(org, projectId, datasetId, context.RequestAborted);
        var clone = new DatasetRow
        {
            Id = Guid.NewGuid().ToString(),
            OrgId = org,
            ProjectId = projectId,
            Name = name.Value!,
            Description = description.Present ? description.Value : source?.Description,
            Metadata = source?.Metadata,
            CreatedAt = now,
            UpdatedAt = now,
        };
        var (outcome, dataset) = await datasets.CloneAsync(org, projectId, datasetId, clone, Guid.NewGuid().ToString(), context.RequestAborted);
        return outcome == DatasetOutcome.Done
            ? TypedResults.Json(new DatasetResponse(DatasetData.From(dataset!)), DatasetJson.Default.DatasetResponse)
            : OutcomeError(outcome, projectId, datasetId, name.Value).ToResult();
    }

    public static async Task<Results<JsonHttpResult<DatasetVersionsResponse>, ErrorResult>> ListVersionsAsync(string projectId, string datasetId, HttpContext context, IDatasetStore datasets)
    {
        if (await ResolveAsync(context, datasets, projectId, datasetId) is { Error: { } error })
        {
            return error.ToResult();
        }

        var versions = await datasets.ListVersionsAsync(datasetId, context.RequestAborted);
        return TypedResults.Json(new DatasetVersionsResponse(versions.Select(DatasetVersionData.From).ToList()), DatasetJson.Default.DatasetVersionsResponse);
    }

    public static async Task<Results<Ok, ErrorResult>> RestoreAsync(string projectId, string datasetId, HttpContext context, IDatasetStore datasets, TimeProvider time)
    {
        var (attributes, data, error) = await JsonApi.ReadDataAsync(context, Type);
        if (error is not null)
        {
            return error.ToResult();
        }

        if (DataId(data!, datasetId) is { } idError)
        {
            return idError.ToResult();
        }

        const string pointer = "/data/attributes/dataset_version";
        if (!attributes!.TryGetPropertyValue("dataset_version", out var node) || node is null)
        {
            return JsonApi.Invalid(pointer, "'dataset_version' is required.").ToResult();
        }

        if (node.GetValueKind() != JsonValueKind.Number || !node.AsValue().TryGetValue<int>(out var version) || version < 0)
        {
            return JsonApi.Invalid(pointer, $"'dataset_version' is {node.ToJsonString()}; it must be a whole number from 0 to 2147483647.").ToResult();
        }

        // A version a retention policy removed cannot be restored (a missing dataset is the store's answer below).
        var (known, _) = await ResolveAsync(context, datasets, projectId, datasetId);
        if (known is not null && version < known.CurrentVersion && !await datasets.VersionExistsAsync(datasetId, version, context.RequestAborted))
        {
            return JsonApi.Invalid(pointer, RemovedVersion(datasetId, version)).ToResult();
        }

        var (outcome, current, dataset) = await datasets.RestoreAsync(
            ProjectEndpoints.Org(context), projectId, datasetId, version, context.User.Actor(), Guid.NewGuid().ToString(), time.GetUtcNow().ToUnixTimeMilliseconds(), context.RequestAborted);
        return outcome switch
        {
            DatasetOutcome.Done => TypedResults.Ok(),
            DatasetOutcome.VersionOutOfRange => JsonApi.Invalid(pointer, VersionRange(version, current)).ToResult(),
            DatasetOutcome.LockedByOther => DraftLockedByOther(dataset!).ToResult(),
            _ => OutcomeError(outcome, projectId, datasetId, null).ToResult(),
        };
    }

    /// <summary>The message for a version that a retention policy removed (its records live only in versions that remain).</summary>
    public static string RemovedVersion(string datasetId, long version) =>
        $"Version {version} of dataset '{datasetId}' was removed by a retention policy; GET …/datasets/{datasetId}/versions lists the versions that remain.";

    /// <summary>404 for a removed earlier version named by a read (the current version always exists).</summary>
    public static async Task<ApiError?> RemovedVersionErrorAsync(IDatasetStore datasets, string datasetId, long? version, long currentVersion, string parameter, CancellationToken cancellationToken) =>
        version is { } v && v < currentVersion && !await datasets.VersionExistsAsync(datasetId, v, cancellationToken)
            ? ApiError.NotFound("VersionNotFound", RemovedVersion(datasetId, v)) with { Parameter = parameter }
            : null;

    public static async Task<Results<JsonHttpResult<DraftStateResponse>, ErrorResult>> GetDraftStateAsync(string projectId, string datasetId, HttpContext context, IDatasetStore datasets)
    {
        var (dataset, error) = await ResolveAsync(context, datasets, projectId, datasetId);
        return error is not null
            ? error.ToResult()
            : TypedResults.Json(new DraftStateResponse(DraftStateData.From(dataset!)), DatasetJson.Default.DraftStateResponse);
    }

    public static async Task<Results<JsonHttpResult<DraftStateResponse>, ErrorResult>> LockDraftAsync(
        string projectId, string datasetId, HttpContext context, IDatasetStore datasets, ICredentialStore credentials, TimeProvider time)
    {
        var holder = await HolderAsync(context, credentials);
        var (outcome, dataset) = await datasets.LockDraftAsync(ProjectEndpoints.Org(context), projectId, datasetId, holder, time.GetUtcNow().ToUnixTimeMilliseconds(), context.RequestAborted);
        return outcome switch
        {
            DatasetOutcome.Done => TypedResults.Json(new DraftStateResponse(DraftStateData.From(dataset!)), DatasetJson.Default.DraftStateResponse),
            // The same 403 as every other write the lock refuses (the spec declares 400 and 403 and says no more).
            DatasetOutcome.LockedByOther => DraftLockedByOther(dataset!).ToResult(),
            _ => OutcomeError(outcome, projectId, datasetId, null).ToResult(),
        };
    }

    public static async Task<Results<Ok, ErrorResult>> UnlockDraftAsync(string projectId, string datasetId, HttpContext context, IDatasetStore datasets, TimeProvider time)
    {
        var (outcome, dataset) = await datasets.UnlockDraftAsync(
            ProjectEndpoints.Org(context), projectId, datasetId, context.User.Actor(), time.GetUtcNow().ToUnixTimeMilliseconds(), context.RequestAborted);
        return outcome switch
        {
            DatasetOutcome.Done => TypedResults.Ok(),
            DatasetOutcome.NotLockHolder => DraftLockedByOther(dataset!).ToResult(),
            _ => OutcomeError(outcome, projectId, datasetId, null).ToResult(),
        };
    }

    /// <summary>The dataset, or the 404 naming which of project and dataset is missing.</summary>
    internal static async Task<(DatasetRow? Dataset, ApiError? Error)> ResolveAsync(HttpContext context, IDatasetStore datasets, string projectId, string datasetId)
    {
        var org = ProjectEndpoints.Org(context);
        var dataset = await datasets.GetAsync(org, projectId, datasetId, context.RequestAborted);
        if (dataset is not null)
        {
            return (dataset, null);
        }

        return (null, await datasets.ProjectVisibleAsync(org, projectId, context.RequestAborted)
            ? DatasetNotFound(datasetId)
            : ProjectNotFound(projectId));
    }

    internal static ApiError ProjectNotFound(string projectId) =>
        ApiError.NotFound("ProjectNotFound", $"Project '{projectId}' does not exist.") with { Parameter = "project_id" };

    internal static ApiError DatasetNotFound(string datasetId) =>
        ApiError.NotFound("DatasetNotFound", $"Dataset '{datasetId}' does not exist in this project.") with { Parameter = "dataset_id" };

    /// <summary>
    /// A write by someone who does not hold the draft lock another user holds: 403 (the spec declares
    /// no 409), naming the holder and how to proceed. Nothing was changed. Every write the lock
    /// refuses answers this: record and dataset changes, restore, lock, unlock, and the dataset and
    /// project deletes that would remove the dataset.
    /// </summary>
    internal static ApiError DraftLockedByOther(string datasetId, string userId, string? userName, long since) =>
        new(StatusCodes.Status403Forbidden, "DraftLocked",
            $"The draft of dataset '{datasetId}' is locked by '{userName ?? userId}' (user id '{userId}') since {Since(since)}; " +
            "only the holder can change the dataset or its records until they unlock it (PATCH …/draft_state/unlock). Nothing was changed.");

    internal static ApiError DraftLockedByOther(DatasetRow dataset) =>
        DraftLockedByOther(dataset.Id, dataset.DraftUserId!, dataset.DraftUserName, dataset.DraftSince ?? 0);

    internal static string VersionRange(long version, long current) =>
        $"Version {version} does not exist; it must be between 0 and the current version of the dataset, {current}, inclusive.";

    internal static ApiError OutcomeError(DatasetOutcome outcome, string projectId, string datasetId, string? name) => outcome switch
    {
        DatasetOutcome.ProjectNotFound => ProjectNotFound(projectId),
        DatasetOutcome.DatasetNotFound => DatasetNotFound(datasetId),
        DatasetOutcome.NameTaken => JsonApi.Invalid("/data/attributes/name", $"A dataset named '{name}' already exists in this project (or is still being deleted); choose another name."),
        _ => throw new InvalidOperationException($"Outcome {outcome} has no error."),
    };

    /// <summary>An optional object attribute (null allowed), kept as JSON text.</summary>
    internal static (string? Json, bool Present, ApiError? Error) ObjectAttribute(JsonObject attributes, string name, string pointerPrefix = "/data/attributes/")
    {
        if (!attributes.TryGetPropertyValue(name, out var node))
        {
            return (null, false, null);
        }

        if (node is null)
        {
            return (null, true, null);
        }

        return node is JsonObject
            ? (node.ToJsonString(Records.RecordJson.Stored), true, null)
            : (null, true, JsonApi.Invalid(pointerPrefix + name, $"'{name}' must be an object, not {node.GetValueKind().ToString().ToLowerInvariant()}."));
    }

    /// <summary><c>data.id</c> is required by clone and restore and must name the dataset of the path.</summary>
    internal static ApiError? DataId(JsonObject data, string datasetId)
    {
        if (data["id"] is not JsonValue idValue || !idValue.TryGetValue<string>(out var id) || string.IsNullOrEmpty(id))
        {
            return JsonApi.Invalid("/data/id", "'data.id' is required: the id of the dataset in the path.");
        }

        return id == datasetId ? null : JsonApi.Invalid("/data/id", $"'data.id' is '{id}' but the path names dataset '{datasetId}'; they must be the same.");
    }

    private static async Task<DraftHolder> HolderAsync(HttpContext context, ICredentialStore credentials)
    {
        var appKey = context.Request.Headers[DatadogKeyHandler.AppKeyHeader].ToString();
        var credential = await credentials.FindByLookupHashAsync(CredentialKinds.DatadogAppKey, Secrets.LookupHash(appKey), context.RequestAborted);
        var id = context.User.Actor();
        return new DraftHolder(id, credential?.Name ?? id);
    }

    private static string Since(long since) =>
        DateTimeOffset.FromUnixTimeMilliseconds(since).ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
