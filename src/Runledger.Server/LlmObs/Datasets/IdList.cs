using System.Text.Json;
using System.Text.Json.Nodes;
using Runledger.Server.Hosting;

namespace Runledger.Server.LlmObs.Datasets;

/// <summary>The id lists of the delete endpoints: a non-empty array of non-empty strings, at most a configured count.</summary>
internal static class IdList
{
    public static (IReadOnlyList<string> Ids, ApiError? Error) Read(JsonObject attributes, string name, int max)
    {
        var pointer = "/data/attributes/" + name;
        if (!attributes.TryGetPropertyValue(name, out var node) || node is null)
        {
            return ([], JsonApi.Invalid(pointer, $"'{name}' is required: a list of 1 to {max} ids."));
        }

        if (node is not JsonArray array)
        {
            return ([], JsonApi.Invalid(pointer, $"'{name}' must be an array of ids, not {node.GetValueKind().ToString().ToLowerInvariant()}."));
        }

        if (array.Count == 0)
        {
            return ([], JsonApi.Invalid(pointer, $"'{name}' is empty; name 1 to {max} ids."));
        }

        if (array.Count > max)
        {
            return ([], JsonApi.Invalid(pointer, $"'{name}' has {array.Count} ids; the limit is {max} per request (Datasets:MaxDeleteIds)."));
        }

        var ids = new List<string>(array.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < array.Count; i++)
        {
            if (array[i] is not JsonValue value || value.GetValueKind() != JsonValueKind.String || string.IsNullOrEmpty(value.GetValue<string>()))
            {
                return ([], JsonApi.Invalid($"{pointer}/{i}", $"'{name}[{i}]' must be a non-empty string."));
            }

            if (seen.Add(value.GetValue<string>()))
            {
                ids.Add(value.GetValue<string>());
            }
        }

        return (ids, null);
    }
}
