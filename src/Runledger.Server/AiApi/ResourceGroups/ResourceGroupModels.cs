namespace Runledger.Server.AiApi.ResourceGroups;

/// <summary><c>BckndResourceGroupsPostRequest</c>.</summary>
public sealed record ResourceGroupCreateRequest(string? ResourceGroupId, List<ResourceGroupLabel>? Labels);

/// <summary><c>BckndResourceGroupPatchRequest</c>.</summary>
public sealed record ResourceGroupPatchRequest(List<ResourceGroupLabel>? Labels);

/// <summary><c>BckndResourceGroupLabel</c>.</summary>
public sealed record ResourceGroupLabel(string? Key, string? Value);

/// <summary><c>BckndResourceGroupBase</c>: the 202 answer of create.</summary>
public sealed record ResourceGroupBase(string ResourceGroupId, string TenantId, string ZoneId);

/// <summary><c>BckndResourceGroup</c>.</summary>
public sealed record ResourceGroupDto(
    string ResourceGroupId,
    string TenantId,
    string ZoneId,
    DateTimeOffset CreatedAt,
    List<ResourceGroupLabel> Labels,
    string Status,
    string StatusMessage);

/// <summary><c>BckndResourceGroupList</c>.</summary>
public sealed record ResourceGroupList(int Count, List<ResourceGroupDto> Resources);
