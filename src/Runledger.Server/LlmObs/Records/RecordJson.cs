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

    /// <summary>
    /// <c>{"data":[{"records":[…]}]}</c>, written straight into the response as it goes (flushed every
    /// 32 KiB, so without a length): a 10,000-record append answers ≈ 3 MB, which a buffer built
    /// first would hold twice over while it grows.
    /// </summary>
    public static IResult Mutation(int status, IReadOnlyList<RecordRow> rows) => new MutationResult(status, rows);

    private sealed class MutationResult(int status, IReadOnlyList<RecordRow> rows) : IResult
    {
        private const int FlushBytes = 32 * 1024;

        public async Task ExecuteAsync(HttpContext httpContext)
        {
            var response = httpContext.Response;
            response.StatusCode = status;
            response.ContentType = "application/json";
            var body = response.BodyWriter;
            await using var writer = new Utf8JsonWriter(body, new JsonWriterOptions { Encoder = Stored.Encoder });
            writer.WriteStartObject();
            writer.WriteStartArray("data");
            writer.WriteStartObject();
            writer.WriteStartArray("records");
            foreach (var row in rows)
            {
                WriteRecord(writer, row);
                if (writer.BytesPending >= FlushBytes)
                {
                    writer.Flush();
                    await body.FlushAsync(httpContext.RequestAborted);
                }
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
            writer.WriteEndArray();
            writer.WriteEndObject();
            await writer.FlushAsync(httpContext.RequestAborted);
        }
    }

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
    public static string Hash(JsonElement value)
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

    /// <summary>
    /// The same hash for a value built as a node (a CSV cell): read back as an element, so there is one
    /// canonical form (RecordHashTests pins both to the hashes stored before).
    /// </summary>
    public static string Hash(JsonNode? value)
    {
        using var document = JsonDocument.Parse(value?.ToJsonString() ?? "null");
        return Hash(document.RootElement);
    }

    /// <summary>
    /// A request value as it is stored: what <c>ToJsonString(Stored)</c> makes of the same value as a
    /// node (no whitespace, relaxed escaping), written by one pooled writer per thread.
    /// </summary>
    public static string StoredText(JsonElement value)
    {
        var buffer = s_storedBuffer ??= new ArrayBufferWriter<byte>(256);
        buffer.ResetWrittenCount();
        var writer = s_storedWriter ??= new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = Stored.Encoder });
        writer.Reset(buffer);
        value.WriteTo(writer);
        writer.Flush();
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? s_storedBuffer;

    [ThreadStatic]
    private static Utf8JsonWriter? s_storedWriter;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? s_hashBuffer;

    [ThreadStatic]
    private static Utf8JsonWriter? s_hashWriter;

    private static void Canonical(JsonElement element, Utf8JsonWriter writer)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                writer.WriteStartObject();
                if (element.GetPropertyCount() <= 1)
                {
                    // Nothing to sort (most inputs are one question): no list, no name strings.
                    foreach (var property in element.EnumerateObject())
                    {
                        if (property.Value.ValueKind is JsonValueKind.Object or JsonValueKind.Array)
                        {
                            writer.WritePropertyName(property.Name);
                            Canonical(property.Value, writer);
                        }
                        else
                        {
                            property.WriteTo(writer);
                        }
                    }
                }
                else
                {
                    var properties = new List<JsonProperty>();
                    foreach (var property in element.EnumerateObject())
                    {
                        properties.Add(property);
                    }

                    properties.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
                    foreach (var property in properties)
                    {
                        writer.WritePropertyName(property.Name);
                        Canonical(property.Value, writer);
                    }
                }

                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (var item in element.EnumerateArray())
                {
                    Canonical(item, writer);
                }

                writer.WriteEndArray();
                break;
            default:
                element.WriteTo(writer);
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
}
