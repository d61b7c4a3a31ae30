using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Runledger.Server.AiApi.Configurations;
using Runledger.Server.AiApi.Executions;
using Runledger.Server.AiApi.Metrics;
using Runledger.Server.AiApi.ResourceGroups;
using Runledger.Server.AiApi.Scenarios;

namespace Runledger.Server.AiApi;

/// <summary>AI API wire types: camelCase, nulls omitted.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    AllowTrailingCommas = false,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip)]
[JsonSerializable(typeof(ResourceGroupCreateRequest))]
[JsonSerializable(typeof(ResourceGroupPatchRequest))]
[JsonSerializable(typeof(ResourceGroupBase))]
[JsonSerializable(typeof(ResourceGroupDto))]
[JsonSerializable(typeof(ResourceGroupList))]
[JsonSerializable(typeof(List<ResourceGroupLabel>))]
[JsonSerializable(typeof(IdMessage))]
[JsonSerializable(typeof(JsonObject))]
[JsonSerializable(typeof(ScenarioList))]
[JsonSerializable(typeof(ScenarioDto))]
[JsonSerializable(typeof(ExecutableList))]
[JsonSerializable(typeof(ExecutableDto))]
[JsonSerializable(typeof(ConfigurationCreateRequest))]
[JsonSerializable(typeof(ConfigurationDto))]
[JsonSerializable(typeof(ConfigurationList))]
[JsonSerializable(typeof(List<ParameterBinding>))]
[JsonSerializable(typeof(ExecutionCreateRequest))]
[JsonSerializable(typeof(ExecutionCreated))]
[JsonSerializable(typeof(ExecutionModifyRequest))]
[JsonSerializable(typeof(ExecutionDeleted))]
[JsonSerializable(typeof(ExecutionDto))]
[JsonSerializable(typeof(ExecutionList))]
[JsonSerializable(typeof(BulkRequest))]
[JsonSerializable(typeof(BulkResponse))]
[JsonSerializable(typeof(LogResponse))]
[JsonSerializable(typeof(MetricPatchRequest))]
[JsonSerializable(typeof(List<NameValue>))]
internal sealed partial class AiApiJson : JsonSerializerContext;

/// <summary><c>{id, message}</c>: the answer of scheduled operations.</summary>
public sealed record IdMessage(string Id, string Message);
