using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Runledger.Storage.LlmObs;

namespace Runledger.Server.LlmObs.Datasets;

/// <summary>Wire types of datasets, their versions and draft state: snake_case, nulls written (as <see cref="LlmObsJson"/>).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(DatasetResponse))]
[JsonSerializable(typeof(DatasetListResponse))]
[JsonSerializable(typeof(DatasetVersionsResponse))]
[JsonSerializable(typeof(DraftStateResponse))]
internal sealed partial class DatasetJson : JsonSerializerContext;

/// <summary><c>LLMObsDatasetDataAttributesResponse</c>.</summary>
public sealed record DatasetAttributes(string Name, string? Description, JsonObject? Metadata, long CurrentVersion, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary><c>LLMObsDatasetDataResponse</c>.</summary>
public sealed record DatasetData(string Id, string Type, DatasetAttributes Attributes)
{
    public static DatasetData From(DatasetRow row) => new(
        row.Id,
        DatasetEndpoints.Type,
        new DatasetAttributes(
            row.Name,
            row.Description,
            row.Metadata is null ? null : JsonNode.Parse(row.Metadata) as JsonObject,
            row.CurrentVersion,
            DateTimeOffset.FromUnixTimeMilliseconds(row.CreatedAt),
            DateTimeOffset.FromUnixTimeMilliseconds(row.UpdatedAt)));
}

public sealed record DatasetResponse(DatasetData Data);

public sealed record DatasetListResponse(List<DatasetData> Data, CursorMeta Meta);

/// <summary><c>LLMObsDatasetVersionDataAttributes</c>.</summary>
public sealed record DatasetVersionAttributes(string DatasetId, long VersionNumber, DateTimeOffset? LastUsed);

public sealed record DatasetVersionData(string Id, string Type, DatasetVersionAttributes Attributes)
{
    public static DatasetVersionData From(DatasetVersionRow row) => new(
        row.Id,
        "dataset_version",
        new DatasetVersionAttributes(row.DatasetId, row.VersionNumber, row.LastUsed is { } used ? DateTimeOffset.FromUnixTimeMilliseconds(used) : null));
}

public sealed record DatasetVersionsResponse(List<DatasetVersionData> Data);

/// <summary>
/// <c>LLMObsDatasetDraftStateUser</c>: the application key's owner (credential id and name). While
/// nobody holds the lock the id is the empty string and there is no name (the spec requires the
/// object and its id, and gives no nullable form).
/// </summary>
public sealed record DraftStateUser(string Id, [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Name);

/// <summary>
/// Both required by the spec. Locked: since when and by whom. Unlocked: since when it is free (the
/// last release, or the dataset's creation) and the empty user.
/// </summary>
public sealed record DraftStateAttributes(DateTimeOffset DraftingSince, DraftStateUser User);

public sealed record DraftStateData(string Id, string Type, DraftStateAttributes Attributes)
{
    public static DraftStateData From(DatasetRow row) => new(
        row.Id,
        "draft_state_data",
        new DraftStateAttributes(
            DateTimeOffset.FromUnixTimeMilliseconds(row.DraftSince ?? row.CreatedAt),
            row.DraftUserId is null ? new DraftStateUser("", null) : new DraftStateUser(row.DraftUserId, row.DraftUserName)));
}

public sealed record DraftStateResponse(DraftStateData Data);
