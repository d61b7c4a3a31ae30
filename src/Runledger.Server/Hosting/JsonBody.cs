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
            return Fail<T>(new ApiError(
                StatusCodes.Status415UnsupportedMediaType,
                "UnsupportedMediaType",
                mediaType is null
                    ? $"The request has no Content-Type; send the body as {allowedList}."
                    : $"Content-Type '{mediaType}' is not supported here; send the body as {allowedList}.")
            { Header = "Content-Type" });
        }

        try
        {
            var value = await JsonSerializer.DeserializeAsync(request.Body, typeInfo, context.RequestAborted);
            return value is null
                ? Fail<T>(ApiError.BadRequest("MissingBody", "The request body is empty or null; send a JSON object.") with { SourcePointer = "" })
                : new BodyResult<T>(value, null);
        }
        catch (JsonException ex)
        {
            var pointer = ToPointer(ex.Path);
            var where = ex.LineNumber is { } line
                ? $" at line {line + 1}, position {(ex.BytePositionInLine ?? 0) + 1}"
                : "";
            var path = string.IsNullOrEmpty(pointer) ? "" : $" (field '{pointer}')";
            return Fail<T>(ApiError.BadRequest("MalformedBody", $"The request body is not valid JSON for this operation{where}{path}: {FirstSentence(ex.Message)}") with { SourcePointer = pointer });
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return Fail<T>(TooLarge(context));
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

    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }
}
