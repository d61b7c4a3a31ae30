using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;
using Runledger.Server.Hosting;

namespace Runledger.Server.LlmObs;

/// <summary>
/// Renders Datadog's JSON:API error body <c>{"errors":[{"status","title","detail","source","meta"}]}</c>;
/// a 429 uses the plain <c>APIErrorResponse</c> form <c>{"errors":["…"]}</c>, as the spec says.
/// </summary>
public static class LlmObsError
{
    public static Task WriteAsync(HttpContext context, ApiError error) =>
        ResponseJson.WriteAsync(context, writer => Write(writer, context, error));

    private static void Write(Utf8JsonWriter writer, HttpContext context, ApiError error)
    {
        writer.WriteStartObject();
        writer.WriteStartArray("errors");
        if (error.Status == StatusCodes.Status429TooManyRequests)
        {
            writer.WriteStringValue(error.Message);
        }
        else
        {
            writer.WriteStartObject();
            writer.WriteString("status", error.Status.ToString(CultureInfo.InvariantCulture));
            writer.WriteString("title", ReasonPhrases.GetReasonPhrase(error.Status));
            writer.WriteString("detail", error.Message);
            if (error.SourcePointer is not null || error.Parameter is not null || error.Header is not null)
            {
                writer.WriteStartObject("source");
                if (error.SourcePointer is not null)
                {
                    writer.WriteString("pointer", error.SourcePointer);
                }

                if (error.Parameter is not null)
                {
                    writer.WriteString("parameter", error.Parameter);
                }

                if (error.Header is not null)
                {
                    writer.WriteString("header", error.Header);
                }

                writer.WriteEndObject();
            }

            writer.WriteStartObject("meta");
            writer.WriteString("code", error.Code);
            writer.WriteString("request_id", context.TraceIdentifier);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }
}
