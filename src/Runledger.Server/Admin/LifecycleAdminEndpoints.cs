using System.Text.Json.Serialization;

namespace Runledger.Server.Admin;

/// <summary>The lifecycle engine's admin routes: restore, preview, legal holds, retention.</summary>
public static class LifecycleAdminEndpoints
{
    public static RouteGroupBuilder MapLifecycleAdmin(this RouteGroupBuilder group)
    {
        group.MapPreview();
        group.MapRestore();
        group.MapHolds();
        group.MapRetention();
        return group;
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(PreviewRequest))]
[JsonSerializable(typeof(PreviewResponse))]
[JsonSerializable(typeof(HoldRequest))]
[JsonSerializable(typeof(HoldDto))]
[JsonSerializable(typeof(HoldList))]
[JsonSerializable(typeof(RetentionRequest))]
[JsonSerializable(typeof(RetentionPolicyDto))]
[JsonSerializable(typeof(RetentionList))]
[JsonSerializable(typeof(RetentionRunDto))]
internal sealed partial class LifecycleAdminJson : JsonSerializerContext;
