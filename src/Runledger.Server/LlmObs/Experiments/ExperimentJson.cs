using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Runledger.Server.LlmObs.Events;

namespace Runledger.Server.LlmObs.Experiments;

/// <summary>
/// Experiment wire types (<c>LLMObsExperimentDataAttributesResponse</c>): snake_case; nulls are
/// written, because the spec marks description, metadata and config required but nullable. The
/// attributes only some requests ask for (dataset_name, author) are left out when not asked for.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ExperimentResponse))]
[JsonSerializable(typeof(ExperimentListResponse))]
internal sealed partial class ExperimentJson : JsonSerializerContext;

/// <summary>Event wire types: optional members are left out when they have no value.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(SpansResponse))]
[JsonSerializable(typeof(EventsResponse))]
internal sealed partial class EventJson : JsonSerializerContext;

public sealed record ExperimentAttributes(
    string ProjectId,
    string DatasetId,
    string Name,
    string? Description,
    JsonObject? Metadata,
    JsonObject? Config,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    string Status,
    string Experiment,
    string? Error,
    DateTimeOffset? DeletedAt,
    string? ParentExperimentId)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? DatasetVersion { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? RunCount { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? DatasetName { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ExperimentAuthor? Author { get; init; }
}

/// <summary><c>LLMObsExperimentUser</c>: the application key that created the experiment (we know no more about users).</summary>
public sealed record ExperimentAuthor(string Id);

public sealed record ExperimentData(string Id, string Type, ExperimentAttributes Attributes);

public sealed record ExperimentResponse(ExperimentData Data);

public sealed record ExperimentListResponse(List<ExperimentData> Data, CursorMeta Meta);
