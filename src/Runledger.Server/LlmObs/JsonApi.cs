using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Runledger.Server.Hosting;
using Runledger.Storage.LlmObs;

namespace Runledger.Server.LlmObs;

/// <summary>
/// JSON:API request reading with errors that point at the culprit (<c>source.pointer</c> /
/// <c>source.parameter</c>), and the cursor and page-size rules shared by every list.
/// </summary>
public static class JsonApi
{
    public const int DefaultPageLimit = 100;
    public const int MaxPageLimit = 5000;

    public static async Task<(JsonObject? Attributes, JsonObject? Data, ApiError? Error)> ReadDataAsync(HttpContext context, string type)
    {
        var (attributes, data, error) = await ReadDataElementAsync(context, type);
        return (error is null ? JsonObject.Create(attributes) : null, data, error);
    }

    /// <summary>
    /// <see cref="ReadDataAsync"/> with <c>data.attributes</c> as the parsed element, for handlers
    /// that read large lists (record batches) without building a node for every value. The
    /// document lives until the response is done.
    /// </summary>
    public static async Task<(JsonElement Attributes, JsonObject? Data, ApiError? Error)> ReadDataElementAsync(HttpContext context, string type)
    {
        var (root, bodyError) = await ReadDocumentAsync(context);
        if (bodyError is not null)
        {
            return (default, null, bodyError);
        }

        if (!root.TryGetProperty("data", out var dataElement) || dataElement.ValueKind != JsonValueKind.Object)
        {
            return (default, null, Invalid("/data", "'data' is required and must be an object."));
        }

        var data = JsonObject.Create(dataElement);
        if (!dataElement.TryGetProperty("type", out var typeElement) || typeElement.ValueKind != JsonValueKind.String || typeElement.GetString() != type)
        {
            return (default, data, Invalid("/data/type", $"'data.type' must be \"{type}\"."));
        }

        if (!dataElement.TryGetProperty("attributes", out var attributes) || attributes.ValueKind != JsonValueKind.Object)
        {
            return (default, data, Invalid("/data/attributes", "'data.attributes' is required and must be an object."));
        }

        return (attributes, data, null);
    }

    private static readonly JsonDocumentOptions StrictParsing = new() { AllowDuplicateProperties = false };

    /// <summary>
    /// The body as one JSON object, parsed once (no copy of the bytes; the document's index is
    /// pooled and given back when the response is done). An object that names a property twice is a
    /// 400 that points at the second one: which of the two a client meant is not ours to guess.
    /// Other malformed bodies answer exactly what the serializer's reading says.
    /// </summary>
    private static async Task<(JsonElement Root, ApiError? Error)> ReadDocumentAsync(HttpContext context)
    {
        var (bytes, error) = await JsonBody.ReadBytesAsync(context, "application/json", "application/vnd.api+json");
        if (error is not null)
        {
            return (default, error);
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes, StrictParsing);
        }
        catch (JsonException)
        {
            // Malformed JSON (answered as every body is), or else a property named twice.
            return (default, JsonBody.Deserialize(bytes, LlmObsJson.Default.JsonObject).Error ?? DuplicateProperty(bytes));
        }

        context.Response.RegisterForDispose(document);
        return document.RootElement.ValueKind == JsonValueKind.Object
            ? (document.RootElement, null)
            : (default, JsonBody.Deserialize(bytes, LlmObsJson.Default.JsonObject).Error);
    }

    private static ApiError DuplicateProperty(ReadOnlyMemory<byte> bytes)
    {
        using var document = JsonDocument.Parse(bytes);
        var (pointer, name) = FindDuplicate(document.RootElement, "") ?? ("", "?");
        return ApiError.BadRequest("MalformedBody", $"The request body names '{name}' twice in one object (field '{pointer}'); each property may appear once.") with { SourcePointer = pointer };

        static (string Pointer, string Name)? FindDuplicate(JsonElement element, string at)
        {
            if (element.ValueKind == JsonValueKind.Object)
            {
                var seen = new HashSet<string>(StringComparer.Ordinal);
                foreach (var property in element.EnumerateObject())
                {
                    var pointer = at + "/" + property.Name.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);
                    if (!seen.Add(property.Name))
                    {
                        return (pointer, property.Name);
                    }

                    if (FindDuplicate(property.Value, pointer) is { } found)
                    {
                        return found;
                    }
                }
            }
            else if (element.ValueKind == JsonValueKind.Array)
            {
                var index = 0;
                foreach (var item in element.EnumerateArray())
                {
                    if (FindDuplicate(item, $"{at}/{index++}") is { } found)
                    {
                        return found;
                    }
                }
            }

            return null;
        }
    }

    /// <summary>A string attribute: absent → (null, false); present → its value (null allowed only when <paramref name="nullable"/>).</summary>
    public static (string? Value, bool Present, ApiError? Error) TextAttribute(JsonObject attributes, string name, bool required = false, bool nullable = false, int maxLength = 1000)
    {
        var pointer = "/data/attributes/" + name;
        if (!attributes.TryGetPropertyValue(name, out var node))
        {
            return required ? (null, false, Invalid(pointer, $"'{name}' is required.")) : (null, false, null);
        }

        if (node is null)
        {
            return nullable && !required ? (null, true, null) : (null, true, Invalid(pointer, $"'{name}' must be a string, not null."));
        }

        if (node.GetValueKind() != JsonValueKind.String)
        {
            return (null, true, Invalid(pointer, $"'{name}' must be a string, not {node.GetValueKind().ToString().ToLowerInvariant()}."));
        }

        var value = node.GetValue<string>();
        if (required && string.IsNullOrWhiteSpace(value))
        {
            return (null, true, Invalid(pointer, $"'{name}' must not be empty."));
        }

        return value.Length > maxLength
            ? (null, true, Invalid(pointer, $"'{name}' is {value.Length} characters long; the limit is {maxLength}."))
            : (value, true, null);
    }

    public static ApiError Invalid(string jsonPointer, string message) =>
        ApiError.BadRequest("InvalidRequest", message) with { SourcePointer = jsonPointer };

    public static ApiError InvalidParameter(string parameter, string message) =>
        ApiError.BadRequest("InvalidParameter", message) with { Parameter = parameter };

    /// <summary><c>page[limit]</c>: default <see cref="DefaultPageLimit"/>, values above the maximum are clamped.</summary>
    public static (int Limit, ApiError? Error) PageLimit(IQueryCollection query, int defaultLimit = DefaultPageLimit)
    {
        if (!query.TryGetValue("page[limit]", out var raw))
        {
            return (defaultLimit, null);
        }

        return long.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var limit) && limit >= 1
            ? ((int)Math.Min(limit, MaxPageLimit), null)
            : (0, InvalidParameter("page[limit]", $"page[limit] is '{raw}'; it must be a whole number of 1 or more."));
    }

    public static (PageCursor? Cursor, ApiError? Error) Cursor(IQueryCollection query)
    {
        if (!query.TryGetValue("page[cursor]", out var raw) || string.IsNullOrEmpty(raw))
        {
            return (null, null);
        }

        try
        {
            var padded = raw.ToString().Replace('-', '+').Replace('_', '/');
            padded += new string('=', (4 - (padded.Length % 4)) % 4);
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(padded));
            var colon = text.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0 && long.TryParse(text[..colon], CultureInfo.InvariantCulture, out var created))
            {
                return (new PageCursor(created, text[(colon + 1)..]), null);
            }
        }
        catch (FormatException)
        {
            // Falls through to the error below.
        }

        return (null, InvalidParameter("page[cursor]", "page[cursor] is not a cursor this server issued; use meta.after from the previous page."));
    }

    public static string EncodeCursor(long createdAt, string id) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{createdAt}:{id}")))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
