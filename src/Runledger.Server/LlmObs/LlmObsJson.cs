using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Runledger.Server.LlmObs.Projects;

namespace Runledger.Server.LlmObs;

/// <summary>LLM Observability wire types: snake_case; nulls written (the spec marks nullable fields required).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(JsonObject))]
[JsonSerializable(typeof(ProjectResponse))]
[JsonSerializable(typeof(ProjectListResponse))]
internal sealed partial class LlmObsJson : JsonSerializerContext;

/// <summary><c>LLMObsCursorMeta</c>.</summary>
public sealed record CursorMeta(string? After);
