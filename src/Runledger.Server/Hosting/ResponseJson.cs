using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Runledger.Server.Hosting;

/// <summary>Writes a small JSON body built with a <see cref="Utf8JsonWriter"/>, with its length set.</summary>
public static class ResponseJson
{
    public static async Task WriteAsync(HttpContext context, Action<Utf8JsonWriter> build)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        // Relaxed escaping: error messages quote values ('x') and must stay readable.
        await using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            build(writer);
        }

        context.Response.ContentType = "application/json";
        context.Response.ContentLength = buffer.WrittenCount;
        await context.Response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted);
    }
}
