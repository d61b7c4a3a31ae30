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
        var body = await JsonBody.ReadAsync(context, LlmObsJson.Default.JsonObject, "application/json", "application/vnd.api+json");
        if (!body.Ok)
        {
            return (null, null, body.Error);
        }

        if (body.Value!["data"] is not JsonObject data)
        {
            return (null, null, Invalid("/data", "'data' is required and must be an object."));
        }

        if (data["type"] is not JsonValue typeValue || !typeValue.TryGetValue<string>(out var actualType) || actualType != type)
        {
            return (null, data, Invalid("/data/type", $"'data.type' must be \"{type}\"."));
        }

        if (data["attributes"] is not JsonObject attributes)
        {
            return (null, data, Invalid("/data/attributes", "'data.attributes' is required and must be an object."));
        }

        return (attributes, data, null);
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
