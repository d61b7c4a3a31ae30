using System.Text.Json;
using System.Text.Json.Nodes;
using Runledger.Server.Hosting;
using Runledger.Storage.LlmObs;

namespace Runledger.Server.LlmObs.Events;

/// <summary>
/// Reads <c>LLMObsExperimentEventsDataAttributesRequest</c> (spans and metrics) into rows, checking
/// every required field and enum of <c>LLMObsExperimentSpan</c> and <c>LLMObsExperimentMetric</c>.
/// The first fault answers 400 with the JSON pointer of the culprit, e.g. <c>/data/attributes/spans/3/start_ns</c>.
/// </summary>
public static class EventValidation
{
    public static readonly string[] SpanStatuses = ["ok", "error"];
    public static readonly string[] MetricTypes = ["score", "categorical", "boolean", "json"];
    public static readonly string[] Assessments = ["pass", "fail"];

    /// <summary>At most this many spans plus metrics per push (a push is one transaction).</summary>
    public const int MaxEventsPerPush = 50_000;

    public static (List<ExperimentSpanRow>? Spans, List<ExperimentMetricRow>? Metrics, ApiError? Error) Read(JsonObject attributes, string experimentId)
    {
        var (spanItems, spanError) = Items(attributes, "spans");
        var (metricItems, metricError) = Items(attributes, "metrics");
        if ((spanError ?? metricError) is { } listError)
        {
            return (null, null, listError);
        }

        if (spanItems.Count + metricItems.Count > MaxEventsPerPush)
        {
            return (null, null, JsonApi.Invalid("/data/attributes", $"This push has {spanItems.Count} spans and {metricItems.Count} metrics; at most {MaxEventsPerPush} events may be pushed at once. Send several pushes."));
        }

        var spans = new List<ExperimentSpanRow>(spanItems.Count);
        for (var i = 0; i < spanItems.Count; i++)
        {
            var (span, error) = ReadSpan(new Fields(spanItems[i], $"spans/{i}", $"spans[{i}]"), experimentId);
            if (error is not null)
            {
                return (null, null, error);
            }

            spans.Add(span!);
        }

        var metrics = new List<ExperimentMetricRow>(metricItems.Count);
        for (var i = 0; i < metricItems.Count; i++)
        {
            var (metric, error) = ReadMetric(new Fields(metricItems[i], $"metrics/{i}", $"metrics[{i}]"), experimentId);
            if (error is not null)
            {
                return (null, null, error);
            }

            metrics.Add(metric!);
        }

        return (spans, metrics, null);
    }

    private static (IReadOnlyList<JsonNode?> Items, ApiError? Error) Items(JsonObject attributes, string name)
    {
        if (!attributes.TryGetPropertyValue(name, out var node) || node is null)
        {
            return ([], null);
        }

        return node is JsonArray array
            ? (array.ToList(), null)
            : ([], JsonApi.Invalid($"/data/attributes/{name}", $"{name} must be an array, not {Kind(node)}."));
    }

    private static (ExperimentSpanRow? Span, ApiError? Error) ReadSpan(Fields f, string experimentId)
    {
        if (f.Error is not null)
        {
            return (null, f.Error);
        }

        var traceId = f.String("trace_id", required: true);
        var spanId = f.String("span_id", required: true);
        var projectId = f.String("project_id", required: true);
        var datasetId = f.String("dataset_id", required: true);
        var name = f.String("name", required: true);
        var startNs = f.Integer("start_ns", required: true, min: 0);
        var duration = f.Integer("duration", required: true, min: 0);
        var status = f.Enum("status", SpanStatuses, required: true);
        var tags = f.Tags();
        var meta = f.Object("meta");
        if (f.Error is null && meta is not null)
        {
            var m = new Fields(meta, f.Path + "/meta", f.Label + ".meta");
            m.Object("expected_output");
            if (m.Object("error") is { } error)
            {
                var e = new Fields(error, m.Path + "/error", m.Label + ".error");
                e.String("message");
                e.String("stack");
                e.String("type");
                f.Error = e.Error;
            }

            f.Error ??= m.Error;
        }

        return f.Error is not null
            ? (null, f.Error)
            : (new ExperimentSpanRow
            {
                ExperimentId = experimentId,
                Id = Guid.CreateVersion7().ToString(),
                SpanId = spanId!,
                TraceId = traceId!,
                ProjectId = projectId!,
                DatasetId = datasetId!,
                Name = name!,
                StartNs = startNs!.Value,
                Duration = duration!.Value,
                Status = status!,
                Tags = tags,
                Meta = meta?.ToJsonString(),
            }, null);
    }

    private static (ExperimentMetricRow? Metric, ApiError? Error) ReadMetric(Fields f, string experimentId)
    {
        if (f.Error is not null)
        {
            return (null, f.Error);
        }

        // span_id is required; an empty one marks an experiment-level (summary) metric.
        var spanId = f.String("span_id", required: true, allowEmpty: true);
        var metricType = f.Enum("metric_type", MetricTypes, required: true);
        var timestamp = f.Integer("timestamp_ms", required: true, min: 0);
        var label = f.String("label", required: true);
        var score = f.Number("score_value");
        var categorical = f.String("categorical_value", allowEmpty: true);
        var boolean = f.Boolean("boolean_value");
        var json = f.Object("json_value");
        var assessment = f.Enum("assessment", Assessments);
        var reasoning = f.String("reasoning", allowEmpty: true);
        var metadata = f.Object("metadata");
        var tags = f.Tags();
        var error = f.Object("error");
        if (f.Error is null && error is not null)
        {
            var e = new Fields(error, f.Path + "/error", f.Label + ".error");
            e.String("message", allowEmpty: true);
            f.Error = e.Error;
        }

        // A value belongs to its metric_type ("Used when metric_type is …"); another type's value is a mistake.
        if (f.Error is null)
        {
            foreach (var (member, type, present) in new[]
            {
                ("score_value", "score", score is not null),
                ("categorical_value", "categorical", categorical is not null),
                ("boolean_value", "boolean", boolean is not null),
                ("json_value", "json", json is not null),
            })
            {
                if (present && metricType != type)
                {
                    f.Error = JsonApi.Invalid($"/data/attributes/{f.Path}/{member}", $"{f.Label}.{member} is only used when metric_type is '{type}'; this metric's metric_type is '{metricType}'.");
                    break;
                }
            }
        }

        return f.Error is not null
            ? (null, f.Error)
            : (new ExperimentMetricRow
            {
                ExperimentId = experimentId,
                Id = Guid.CreateVersion7().ToString(),
                SpanId = spanId!,
                MetricType = metricType!,
                Label = label!,
                TimestampMs = timestamp!.Value,
                ScoreValue = score,
                CategoricalValue = categorical,
                BooleanValue = boolean is null ? null : boolean.Value ? 1 : 0,
                JsonValue = json?.ToJsonString(),
                Assessment = assessment,
                Reasoning = reasoning,
                Metadata = metadata?.ToJsonString(),
                Tags = tags,
                Error = error?.ToJsonString(),
            }, null);
    }

    private static string Kind(JsonNode? node) => node is null ? "null" : node.GetValueKind() switch
    {
        JsonValueKind.True or JsonValueKind.False => "boolean",
        var kind => kind.ToString().ToLowerInvariant(),
    };

    /// <summary>Reads members of one object; the first fault sticks and later reads are skipped.</summary>
    private sealed class Fields(JsonNode? node, string path, string label)
    {
        private readonly JsonObject? _object = node as JsonObject;

        public string Path { get; } = path;
        public string Label { get; } = label;
        public ApiError? Error { get; set; } = node is JsonObject ? null : JsonApi.Invalid($"/data/attributes/{path}", $"{label} must be an object, not {Kind(node)}.");

        private bool Get(string name, bool required, out JsonNode? value)
        {
            value = null;
            if (Error is not null)
            {
                return false;
            }

            if (!_object!.TryGetPropertyValue(name, out value) || value is null)
            {
                if (required)
                {
                    Fail(name, $"{Label}.{name} is required.");
                }

                return false;
            }

            return true;
        }

        private void Fail(string name, string message) => Error = JsonApi.Invalid($"/data/attributes/{Path}/{name}", message);

        public string? String(string name, bool required = false, bool allowEmpty = false)
        {
            if (!Get(name, required, out var value))
            {
                return null;
            }

            if (value!.GetValueKind() != JsonValueKind.String)
            {
                Fail(name, $"{Label}.{name} must be a string, not {Kind(value)}.");
                return null;
            }

            var text = value.GetValue<string>();
            if (!allowEmpty && text.Length == 0)
            {
                Fail(name, $"{Label}.{name} must not be empty.");
                return null;
            }

            return text;
        }

        public long? Integer(string name, bool required = false, long min = long.MinValue)
        {
            if (!Get(name, required, out var value))
            {
                return null;
            }

            if (value!.GetValueKind() != JsonValueKind.Number || !value.AsValue().TryGetValue<long>(out var number))
            {
                Fail(name, $"{Label}.{name} must be a whole number (int64), not {(value.GetValueKind() == JsonValueKind.Number ? value.ToJsonString() : Kind(value))}.");
                return null;
            }

            if (number < min)
            {
                Fail(name, $"{Label}.{name} is {number}; it must be {min} or more.");
                return null;
            }

            return number;
        }

        public double? Number(string name)
        {
            if (!Get(name, false, out var value))
            {
                return null;
            }

            if (value!.GetValueKind() != JsonValueKind.Number || !value.AsValue().TryGetValue<double>(out var number) || !double.IsFinite(number))
            {
                Fail(name, $"{Label}.{name} must be a finite number, not {Kind(value)}.");
                return null;
            }

            return number;
        }

        public bool? Boolean(string name)
        {
            if (!Get(name, false, out var value))
            {
                return null;
            }

            var kind = value!.GetValueKind();
            if (kind is not (JsonValueKind.True or JsonValueKind.False))
            {
                Fail(name, $"{Label}.{name} must be true or false, not {Kind(value)}.");
                return null;
            }

            return kind == JsonValueKind.True;
        }

        public string? Enum(string name, string[] allowed, bool required = false)
        {
            var text = String(name, required, allowEmpty: true);
            if (text is not null && !allowed.Contains(text, StringComparer.Ordinal))
            {
                Fail(name, $"{Label}.{name} '{text}' is not one of: {string.Join(", ", allowed)}.");
                return null;
            }

            return text;
        }

        public JsonObject? Object(string name)
        {
            if (!Get(name, false, out var value))
            {
                return null;
            }

            if (value is not JsonObject obj)
            {
                Fail(name, $"{Label}.{name} must be an object, not {Kind(value)}.");
                return null;
            }

            return obj;
        }

        /// <summary>Tags as JSON array text; absent → <c>[]</c>.</summary>
        public string Tags()
        {
            if (!Get("tags", false, out var value))
            {
                return "[]";
            }

            if (value is not JsonArray array)
            {
                Fail("tags", $"{Label}.tags must be an array of strings, not {Kind(value)}.");
                return "[]";
            }

            for (var i = 0; i < array.Count; i++)
            {
                if (array[i] is null || array[i]!.GetValueKind() != JsonValueKind.String)
                {
                    Error = JsonApi.Invalid($"/data/attributes/{Path}/tags/{i}", $"{Label}.tags[{i}] must be a string, not {Kind(array[i])}.");
                    return "[]";
                }
            }

            return array.ToJsonString();
        }
    }
}
