using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Options;

namespace Runledger.Server.Hosting;

/// <summary>The outcome of reading a JSON body: a value, or the error to answer with.</summary>
public readonly record struct BodyResult<T>(T? Value, ApiError? Error)
    where T : class
{
    public bool Ok => Error is null;
}

/// <summary>
/// Reads request bodies ourselves (instead of framework binding) so that a wrong content type,
/// malformed JSON, a missing body or an oversized one all answer in the dialect's own error shape.
/// </summary>
public static class JsonBody
{
    public static async Task<BodyResult<T>> ReadAsync<T>(HttpContext context, JsonTypeInfo<T> typeInfo, params string[] mediaTypes)
        where T : class
    {
        var (bytes, error) = await ReadBytesAsync(context, mediaTypes);
        return error is not null ? Fail<T>(error) : Deserialize(bytes, typeInfo);
    }

    /// <summary>
    /// The body's bytes after the content-type check (415), the size limit (413) and the empty-body
    /// check (400), for handlers that parse the JSON themselves and fall back to
    /// <see cref="Deserialize{T}"/> for the error to answer with.
    /// </summary>
    public static async Task<(ReadOnlyMemory<byte> Bytes, ApiError? Error)> ReadBytesAsync(HttpContext context, params string[] mediaTypes)
    {
        var request = context.Request;
        var contentType = request.ContentType;
        var mediaType = contentType is null ? null : contentType.Split(';', 2)[0].Trim();
        var accepted = false;
        foreach (var allowed in mediaTypes)
        {
            accepted |= string.Equals(mediaType, allowed, StringComparison.OrdinalIgnoreCase);
        }

        if (!accepted)
        {
            var allowedList = string.Join(" or ", mediaTypes);
            return (default, new ApiError(
                StatusCodes.Status415UnsupportedMediaType,
                "UnsupportedMediaType",
                mediaType is null
                    ? $"The request has no Content-Type; send the body as {allowedList}."
                    : $"Content-Type '{mediaType}' is not supported here; send the body as {allowedList}.")
            { Header = "Content-Type" });
        }

        ReadOnlyMemory<byte> bytes;
        try
        {
            // Buffered (bodies are bounded by Limits:MaxRequestBodyBytes) so that a parse error can be
            // located precisely even when the target type does not track paths (JsonObject). Sized
            // from Content-Length (up to 1 MiB: the client's claim is not trusted further before the
            // limit is enforced while reading), and handed on without a second copy.
            using var buffer = new MemoryStream((int)Math.Clamp(request.ContentLength ?? 0, 0, 1024 * 1024));
            await request.Body.CopyToAsync(buffer, context.RequestAborted);
            bytes = buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (default, TooLarge(context));
        }

        return bytes.Length == 0
            ? (default, ApiError.BadRequest("MissingBody", "The request body is empty; send a JSON object.") with { SourcePointer = "" })
            : (bytes, null);
    }

    /// <summary>Deserialises a body read by <see cref="ReadBytesAsync"/>; malformed JSON answers 400 with the field it failed at.</summary>
    public static BodyResult<T> Deserialize<T>(ReadOnlyMemory<byte> bytes, JsonTypeInfo<T> typeInfo)
        where T : class
    {
        try
        {
            var value = JsonSerializer.Deserialize(bytes.Span, typeInfo);
            return value is null
                ? Fail<T>(ApiError.BadRequest("MissingBody", "The request body is null; send a JSON object.") with { SourcePointer = "" })
                : new BodyResult<T>(value, null);
        }
        catch (JsonException ex)
        {
            var pointer = ToPointer(ex.Path);
            if (pointer.Length == 0)
            {
                pointer = PointerAtFailure(bytes.Span);
            }

            var where = ex.LineNumber is { } line
                ? $" at line {line + 1}, position {(ex.BytePositionInLine ?? 0) + 1}"
                : "";
            var path = string.IsNullOrEmpty(pointer) ? "" : $" (field '{pointer}')";
            return Fail<T>(ApiError.BadRequest("MalformedBody", $"The request body is not valid JSON for this operation{where}{path}: {FirstSentence(ex.Message)}") with { SourcePointer = pointer });
        }
    }

    public static ApiError TooLarge(HttpContext context)
    {
        var limit = context.RequestServices.GetRequiredService<IOptions<LimitsOptions>>().Value.MaxRequestBodyBytes;
        return new ApiError(
            StatusCodes.Status413PayloadTooLarge,
            "PayloadTooLarge",
            $"The request entity is larger than the limit of {limit} bytes defined by the server (Limits:MaxRequestBodyBytes); send smaller batches.");
    }

    private static BodyResult<T> Fail<T>(ApiError error)
        where T : class => new(null, error);

    /// <summary><c>$.data.attributes.name</c> or <c>$.items[3].step</c> → <c>/data/attributes/name</c>, <c>/items/3/step</c>.</summary>
    internal static string ToPointer(string? jsonPath)
    {
        if (string.IsNullOrEmpty(jsonPath) || jsonPath == "$")
        {
            return "";
        }

        return jsonPath.TrimStart('$').Replace("['", ".", StringComparison.Ordinal).Replace("']", "", StringComparison.Ordinal)
            .Replace("[", ".", StringComparison.Ordinal).Replace("]", "", StringComparison.Ordinal).Replace('.', '/');
    }

    /// <summary>Re-reads malformed JSON up to the failure and names the member being read there.</summary>
    internal static string PointerAtFailure(ReadOnlySpan<byte> json)
    {
        // Each frame: an object (with the property being read) or an array (with the element index).
        var frames = new List<(bool IsArray, int Index, string? Property)>();
        var reader = new Utf8JsonReader(json);
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName:
                        frames[^1] = (false, 0, reader.GetString());
                        break;
                    case JsonTokenType.StartObject or JsonTokenType.StartArray:
                        NextElement(frames);
                        frames.Add((reader.TokenType == JsonTokenType.StartArray, -1, null));
                        break;
                    case JsonTokenType.EndObject or JsonTokenType.EndArray:
                        frames.RemoveAt(frames.Count - 1);
                        break;
                    default:
                        NextElement(frames);
                        break;
                }
            }
        }
        catch (JsonException)
        {
            // Expected: this is where the body stops being JSON.
        }

        var pointer = new System.Text.StringBuilder();
        foreach (var (isArray, index, property) in frames)
        {
            if (isArray && index >= 0)
            {
                pointer.Append('/').Append(index);
            }
            else if (!isArray && property is not null)
            {
                pointer.Append('/').Append(property.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal));
            }
        }

        return pointer.ToString();

        static void NextElement(List<(bool IsArray, int Index, string? Property)> frames)
        {
            if (frames.Count > 0 && frames[^1].IsArray)
            {
                frames[^1] = (true, frames[^1].Index + 1, null);
            }
        }
    }

    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }
}
