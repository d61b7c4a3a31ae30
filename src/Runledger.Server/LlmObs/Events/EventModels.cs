using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Runledger.Server.LlmObs.Events;

/// <summary><c>LLMObsExperimentEvalMetricEvent</c>; only the value member that matches <c>metric_type</c> is present.</summary>
public sealed record EvalMetricEvent(
    string Id,
    string SpanId,
    string? TraceId,
    string MetricType,
    string Label,
    long TimestampMs,
    double? ScoreValue,
    string? CategoricalValue,
    bool? BooleanValue,
    JsonObject? JsonValue,
    string? Assessment,
    string? Reasoning,
    JsonObject? Metadata,
    List<string> Tags,
    string MetricSource);

/// <summary><c>LLMObsExperimentSpanWithEvals</c>. <c>duration</c> is a double on this side of the API.</summary>
public sealed record SpanWithEvals(
    string Id,
    string SpanId,
    string TraceId,
    string Name,
    long StartNs,
    double Duration,
    string Status,
    List<string> Tags,
    JsonObject? Meta,
    List<EvalMetricEvent> EvalMetrics);

/// <summary><c>LLMObsExperimentSpanDataResponse</c> (v1 items: type <c>experiments</c>).</summary>
public sealed record SpanData(string Id, string Type, SpanWithEvals Attributes);

/// <summary><c>LLMObsExperimentSpansResponse</c> (v1, deprecated).</summary>
public sealed record SpansResponse(List<SpanData> Data);

public sealed record EventsAttributes(List<SpanWithEvals> Spans, List<EvalMetricEvent> SummaryMetrics);

public sealed record EventsData(string Id, string Type, EventsAttributes Attributes);

/// <summary><c>LLMObsCursorMeta</c> with <c>after</c> always written (null on the last page).</summary>
public sealed record EventsMeta([property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? After);

/// <summary><c>LLMObsExperimentEventsV2Response</c> (v2 without meta, v3 with it).</summary>
public sealed record EventsResponse(EventsData Data, EventsMeta? Meta);
