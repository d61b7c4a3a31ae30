using System.Globalization;
using System.Text.Json;
using Runledger.Storage.Metrics;

namespace Runledger.Server.AiApi.Metrics;

/// <summary>
/// The fast path of <c>PATCH /v2/lm/metrics</c>: one pass of a <see cref="Utf8JsonReader"/> over
/// the body that yields the points to store, with no intermediate request objects, each distinct
/// metric name decoded and checked once and each distinct label set (by its raw bytes) checked and
/// serialised once instead of once per point. It only accepts a body it is sure about — a valid
/// one in the plain shape; anything else (malformed JSON, a wrong type, a duplicate member, an
/// invalid field, a BOM…) returns null and the handler takes the deserialising path, which alone
/// decides the 400 and its message. So an error answer is exactly what it was without this parser,
/// and an accepted body is stored exactly as that path would have stored it.
/// </summary>
internal static class MetricPatchParser
{
    /// <summary>Distinct names and label sets remembered per request; beyond that each is checked on its own (still correct, only slower).</summary>
    private const int MaxRemembered = 32;

    public sealed record Parsed(string ExecutionId, List<MetricPointInput> Points, List<MetricAttributeRow> Attributes);

    public static Parsed? TryParse(ReadOnlySpan<byte> json, DateTimeOffset now)
    {
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow });
            return Parse(ref reader, json, now);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException or ArgumentException)
        {
            // Not valid JSON (or not decodable text): the deserialising path answers with the precise error.
            return null;
        }
    }

    private static Parsed? Parse(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, DateTimeOffset now)
    {
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return null;
        }

        string? executionId = null;
        List<MetricPointInput>? points = null;
        var attributes = new List<MetricAttributeRow>();
        var seen = 0;
        var context = new PointContext(now, json.Length);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var member = reader.ValueTextEquals("executionId"u8) ? 1
                : reader.ValueTextEquals("metrics"u8) ? 2
                : reader.ValueTextEquals("tags"u8) ? 4
                : reader.ValueTextEquals("customInfo"u8) ? 8
                : 0;
            if ((seen & member) != 0)
            {
                return null; // a duplicate member: left to the deserialiser's own rule
            }

            seen |= member;
            reader.Read();
            switch (member)
            {
                case 1:
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        return null;
                    }

                    executionId = reader.GetString();
                    break;
                case 2:
                    if (reader.TokenType == JsonTokenType.Null)
                    {
                        break;
                    }

                    points = ReadPoints(ref reader, json, ref context);
                    if (points is null)
                    {
                        return null;
                    }

                    break;
                case 4 or 8:
                    if (reader.TokenType != JsonTokenType.Null
                        && !ReadAttributes(ref reader, member == 4 ? MetricAttributeKinds.Tag : MetricAttributeKinds.CustomInfo, member == 4 ? 256 : int.MaxValue, attributes))
                    {
                        return null;
                    }

                    break;
                default:
                    reader.Skip(); // unknown members are ignored, as the deserialiser does
                    break;
            }
        }

        // The object must be closed and be the whole body.
        if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
        {
            return null;
        }

        if (string.IsNullOrEmpty(executionId) || !AiApiQuery.IsId(executionId))
        {
            return null;
        }

        // Tags come before customInfo in what is stored, whatever their order in the body.
        if (attributes.Count > 0 && (seen & 12) == 12)
        {
            attributes = [.. attributes.Where(a => a.Kind == MetricAttributeKinds.Tag), .. attributes.Where(a => a.Kind == MetricAttributeKinds.CustomInfo)];
        }

        return new Parsed(executionId, points ?? [], attributes);
    }

    private static List<MetricPointInput>? ReadPoints(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, ref PointContext context)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            return null;
        }

        // About 45 bytes per point in the smallest useful shape.
        var points = new List<MetricPointInput>(Math.Min(context.BodyLength / 40, 100_000) + 1);
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.StartObject || ReadPoint(ref reader, json, ref context) is not { } point)
            {
                return null;
            }

            points.Add(point);
        }

        return points;
    }

    private static MetricPointInput? ReadPoint(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, ref PointContext context)
    {
        string? name = null;
        double? value = null;
        var timestamp = context.Now;
        long step = -1;
        string? labels = null;
        var seen = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var member = reader.ValueTextEquals("name"u8) ? 1
                : reader.ValueTextEquals("value"u8) ? 2
                : reader.ValueTextEquals("timestamp"u8) ? 4
                : reader.ValueTextEquals("step"u8) ? 8
                : reader.ValueTextEquals("labels"u8) ? 16
                : 0;
            if ((seen & member) != 0)
            {
                return null;
            }

            seen |= member;
            reader.Read();
            switch (member)
            {
                case 1:
                    name = reader.TokenType == JsonTokenType.String ? context.Name(ref reader) : null;
                    if (name is null)
                    {
                        return null;
                    }

                    break;
                case 2:
                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetDouble(out var number) || !double.IsFinite(number))
                    {
                        return null;
                    }

                    value = number;
                    break;
                case 4:
                    if (reader.TokenType == JsonTokenType.Null)
                    {
                        break;
                    }

                    if (reader.TokenType != JsonTokenType.String
                        || !DateTimeOffset.TryParse(reader.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out timestamp))
                    {
                        return null;
                    }

                    break;
                case 8:
                    if (reader.TokenType == JsonTokenType.Null)
                    {
                        break;
                    }

                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out step) || step < 0)
                    {
                        return null;
                    }

                    break;
                case 16:
                    if (reader.TokenType == JsonTokenType.Null)
                    {
                        break;
                    }

                    if (reader.TokenType != JsonTokenType.StartArray || !context.Labels(ref reader, json, out labels))
                    {
                        return null;
                    }

                    break;
                default:
                    reader.Skip();
                    break;
            }
        }

        return reader.TokenType == JsonTokenType.EndObject && name is not null && value is { } v
            ? new MetricPointInput(name, v, timestamp.ToUnixTimeMilliseconds(), step, labels)
            : null;
    }

    /// <summary>tags/customInfo: an array of <c>{name, value}</c> objects, each valid.</summary>
    private static bool ReadAttributes(ref Utf8JsonReader reader, string kind, int maxValue, List<MetricAttributeRow> into)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            return false;
        }

        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (ReadNameValue(ref reader) is not { } item || MetricEndpoints.NameValueError(item, "", maxValue) is not null)
            {
                return false;
            }

            into.Add(new MetricAttributeRow("", kind, item.Name!, item.Value!));
        }

        return true;
    }

    /// <summary>A <c>{name, value}</c> object with both members strings (other members ignored); null for any other shape.</summary>
    private static NameValue? ReadNameValue(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            return null;
        }

        string? name = null;
        string? value = null;
        var seen = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var member = reader.ValueTextEquals("name"u8) ? 1 : reader.ValueTextEquals("value"u8) ? 2 : 0;
            if ((seen & member) != 0)
            {
                return null;
            }

            seen |= member;
            reader.Read();
            if (member == 0)
            {
                reader.Skip();
                continue;
            }

            if (reader.TokenType != JsonTokenType.String)
            {
                return null;
            }

            if (member == 1)
            {
                name = reader.GetString();
            }
            else
            {
                value = reader.GetString();
            }
        }

        return reader.TokenType == JsonTokenType.EndObject && name is not null && value is not null ? new NameValue(name, value) : null;
    }

    /// <summary>What one request has already checked: its distinct metric names and label sets.</summary>
    private struct PointContext(DateTimeOffset now, int bodyLength)
    {
        private List<(byte[] Utf8, string Name)>? _names;
        private List<(byte[] Raw, string? Json)>? _labels;

        public readonly DateTimeOffset Now => now;

        public readonly int BodyLength => bodyLength;

        /// <summary>The point's name (the reader is on it) when it is valid, the same string instance for every repeat.</summary>
        public string? Name(ref Utf8JsonReader reader)
        {
            var plain = !reader.ValueIsEscaped && !reader.HasValueSequence;
            if (plain && _names is not null)
            {
                foreach (var (utf8, known) in _names)
                {
                    if (reader.ValueSpan.SequenceEqual(utf8))
                    {
                        return known;
                    }
                }
            }

            var name = reader.GetString();
            if (name is null || !MetricEndpoints.IsValidMetricName(name))
            {
                return null;
            }

            _names ??= [];
            if (plain && _names.Count < MaxRemembered)
            {
                _names.Add((reader.ValueSpan.ToArray(), name));
            }

            return name;
        }

        /// <summary>
        /// The labels array the reader is on, checked and serialised as stored (null when empty);
        /// false when it is not a valid label list. The reader ends on the array's end.
        /// </summary>
        public bool Labels(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, out string? labels)
        {
            var start = (int)reader.TokenStartIndex;
            var probe = reader;
            probe.Skip();
            var raw = json[start..(int)probe.BytesConsumed];
            if (_labels is not null)
            {
                foreach (var (known, serialised) in _labels)
                {
                    if (raw.SequenceEqual(known))
                    {
                        reader = probe;
                        labels = serialised;
                        return true;
                    }
                }
            }

            labels = null;
            var list = new List<NameValue>();
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (ReadNameValue(ref reader) is not { } label || MetricEndpoints.LabelError(label) is not null)
                {
                    return false;
                }

                list.Add(label);
            }

            if (list.Count > 0)
            {
                labels = MetricEndpoints.SerializeLabels(list);
            }

            _labels ??= [];
            if (_labels.Count < MaxRemembered)
            {
                _labels.Add((raw.ToArray(), labels));
            }

            return true;
        }
    }
}
