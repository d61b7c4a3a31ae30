using System.Text.Json;
using Runledger.Server.Hosting;

namespace Runledger.Server.AiApi;

/// <summary>
/// Renders the AI API error body: <c>{"error":{"code","message","requestId","target","details"}}</c>
/// (<c>AiApiError</c>, <c>BckndError</c>, <c>TrckApiError</c> in the spec; only the tracking API
/// has <c>details</c> as an array, and only it sets them).
/// </summary>
public static class AiApiError
{
    public static Task WriteAsync(HttpContext context, ApiError error) =>
        ResponseJson.WriteAsync(context, writer => Write(writer, context, error));

    private static void Write(Utf8JsonWriter writer, HttpContext context, ApiError error)
    {
        writer.WriteStartObject();
        writer.WriteStartObject("error");
        writer.WriteString("code", error.Code);
        writer.WriteString("message", error.Message);
        writer.WriteString("requestId", context.TraceIdentifier);
        writer.WriteString("target", error.Target ?? TargetOf(context.Request.Path));
        if (error.Details is { Count: > 0 })
        {
            writer.WriteStartArray("details");
            foreach (var detail in error.Details)
            {
                writer.WriteStartObject();
                writer.WriteString("code", detail.Code);
                writer.WriteString("message", detail.Message);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
        }

        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    /// <summary>The invoked URL relative to the API root, as the service reports it (e.g. <c>/metrics</c>).</summary>
    public static string TargetOf(PathString path)
    {
        foreach (var root in (ReadOnlySpan<string>)["/v2/lm", "/v2/admin", "/v2"])
        {
            if (path.StartsWithSegments(root, StringComparison.OrdinalIgnoreCase, out var rest))
            {
                return rest.HasValue ? rest.Value! : "/";
            }
        }

        return path.Value ?? "/";
    }
}
