using System.Buffers;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Runledger.Server.Hosting;
using Runledger.Storage.LlmObs;

namespace Runledger.Server.LlmObs.Records;

/// <summary>
/// Records on the wire. Their input, expected output and metadata are stored as JSON text and
/// written back raw, so a list never re-parses them. Lists answer bare record objects in
/// <c>data</c>; mutations answer <c>{"data":[{"records":[…]}]}</c> (the spec's two exceptions).
/// </summary>
internal static class RecordJson
{
    /// <summary>How request values are kept as text: unescaped where JSON allows, so exports stay readable.</summary>
    public static readonly JsonSerializerOptions Stored = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The body of a list answer (kept by <see cref="RecordListCache"/>; written by <see cref="Body"/>).</summary>
    public static byte[] List(IReadOnlyList<RecordRow> rows, string? after) => ResponseJson.ToBytes(writer =>
    {
        writer.WriteStartObject();
        writer.WriteStartArray("data");
        foreach (var row in rows)
        {
            WriteRecord(writer, row);
        }

        writer.WriteEndArray();
        writer.WriteStartObject("meta");
        writer.WriteString("after", after);
        writer.WriteEndObject();
        writer.WriteEndObject();
    });

    public static IResult Mutation(int status, IReadOnlyList<RecordRow> rows) => new RecordsResult(status, writer =>
    {
        writer.WriteStartObject();
        writer.WriteStartArray("data");
        writer.WriteStartObject();
        writer.WriteStartArray("records");
        foreach (var row in rows)
        {
            WriteRecord(writer, row);
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
        writer.WriteEndArray();
        writer.WriteEndObject();
    });

    /// <summary><c>LLMObsDatasetRecordDataResponse</c>.</summary>
    private static void WriteRecord(Utf8JsonWriter writer, RecordRow row)
    {
        writer.WriteStartObject();
        writer.WriteString("id", row.Id);
        writer.WriteString("dataset_id", row.DatasetId);
        writer.WritePropertyName("input");
        writer.WriteRawValue(row.Input, skipInputValidation: true);
        WriteRawOrNull(writer, "expected_output", row.ExpectedOutput);
        WriteRawOrNull(writer, "metadata", row.Metadata);
        writer.WriteString("created_at", DateTimeOffset.FromUnixTimeMilliseconds(row.CreatedAt));
        writer.WriteString("updated_at", DateTimeOffset.FromUnixTimeMilliseconds(row.UpdatedAt));
        writer.WriteEndObject();
    }

    private static void WriteRawOrNull(Utf8JsonWriter writer, string name, string? json)
    {
        writer.WritePropertyName(name);
        if (json is null)
        {
            writer.WriteNullValue();
        }
        else
        {
            writer.WriteRawValue(json, skipInputValidation: true);
        }
    }

    /// <summary>
    /// SHA-256 of the value's canonical JSON (object keys sorted, no whitespace), so inputs that
    /// differ only in key order or spacing count as equal for deduplication. Written by one
    /// <see cref="Utf8JsonWriter"/> per thread into one buffer: the first version built a string and
    /// serialised every key and scalar on its own (a writer and buffer each), which made a
    /// 10,000-record append allocate tens of MB. The bytes are the same (RecordHashTests).
    /// </summary>
    public static string Hash(JsonNode? value)
    {
        var buffer = s_hashBuffer ??= new ArrayBufferWriter<byte>(256);
        buffer.ResetWrittenCount();
        var writer = s_hashWriter ??= new Utf8JsonWriter(buffer);
        writer.Reset(buffer);
        Canonical(value, writer);
        writer.Flush();
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(buffer.WrittenSpan, hash);
        return Convert.ToHexStringLower(hash);
    }

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? s_hashBuffer;

    [ThreadStatic]
    private static Utf8JsonWriter? s_hashWriter;

    private static void Canonical(JsonNode? node, Utf8JsonWriter writer)
    {
        switch (node)
        {
            case null:
                writer.WriteNullValue();
                break;
            case JsonObject obj:
                writer.WriteStartObject();
                var properties = obj.ToArray();
                Array.Sort(properties, static (a, b) => string.CompareOrdinal(a.Key, b.Key));
                foreach (var (key, child) in properties)
                {
                    writer.WritePropertyName(key);
                    Canonical(child, writer);
                }

                writer.WriteEndObject();
                break;
            case JsonArray array:
                writer.WriteStartArray();
                foreach (var item in array)
                {
                    Canonical(item, writer);
                }

                writer.WriteEndArray();
                break;
            default:
                node.WriteTo(writer);
                break;
        }
    }

    /// <summary>A 200 with a JSON body made before.</summary>
    public static IResult Body(byte[] body) => new BytesResult(body);

    private sealed class BytesResult(byte[] body) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = StatusCodes.Status200OK;
            return ResponseJson.WriteBytesAsync(httpContext, body);
        }
    }

    private sealed class RecordsResult(int status, Action<Utf8JsonWriter> build) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = status;
            return ResponseJson.WriteAsync(httpContext, build);
        }
    }
}
