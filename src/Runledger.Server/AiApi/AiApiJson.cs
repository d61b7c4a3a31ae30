using System.Text.Json.Serialization;
using Runledger.Server.AiApi.ResourceGroups;

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
internal sealed partial class AiApiJson : JsonSerializerContext;

/// <summary><c>{id, message}</c>: the answer of scheduled operations.</summary>
public sealed record IdMessage(string Id, string Message);
