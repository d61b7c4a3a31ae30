using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Runledger.Server.Hosting;

/// <summary>Writes a small JSON body built with a <see cref="Utf8JsonWriter"/>, with its length set.</summary>
public static class ResponseJson
{
    public static async Task WriteAsync(HttpContext context, Action<Utf8JsonWriter> build)
    {
        var buffer = Build(build);
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = buffer.WrittenCount;
        await context.Response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted);
    }

    /// <summary>The body <paramref name="build"/> writes, as bytes (an answer to keep, e.g. in a cache).</summary>
    public static byte[] ToBytes(Action<Utf8JsonWriter> build) => Build(build).WrittenSpan.ToArray();

    /// <summary>Writes a JSON body made before (see <see cref="ToBytes"/>).</summary>
    public static Task WriteBytesAsync(HttpContext context, byte[] body)
    {
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = body.Length;
        return context.Response.Body.WriteAsync(body, context.RequestAborted).AsTask();
    }

    private static ArrayBufferWriter<byte> Build(Action<Utf8JsonWriter> build)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        // Relaxed escaping: error messages quote values ('x') and must stay readable.
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            build(writer);
        }

        return buffer;
    }
}
