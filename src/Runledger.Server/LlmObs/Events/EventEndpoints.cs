using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
using Runledger.Server.Auth;
using Runledger.Server.Hosting;
using Runledger.Server.LlmObs.Experiments;
using Runledger.Server.LlmObs.Projects;
using Runledger.Storage.LlmObs;

namespace Runledger.Server.LlmObs.Events;

/// <summary>
/// Experiment events: CreateLLMObsExperimentEvents (v1 push, 202) and the three listings —
/// ListLLMObsExperimentEventsV1 (spans only), V2 (spans + summary metrics) and ListLLMObsExperimentEvents
/// (v3, the V2 shape paged by spans with <c>meta.after</c>). Spans carry their evaluation metrics
/// joined by span_id; metrics whose span_id names no span of the experiment are summary metrics.
/// The listings also answer for a soft-deleted experiment until the retention period purges it.
/// </summary>
public static class EventEndpoints
{
    public const string PushType = "events";
    public const string CollectionType = "experiment_events";
    public const string SpanType = "experiments";

    public static void MapExperimentEvents(RouteGroupBuilder v1, RouteGroupBuilder v2, RouteGroupBuilder v3)
    {
        v1.MapPost("/experiments/{experimentId}/events", PushAsync).RequireAuthorization(Policies.LlmObsWrite);
        v1.MapGet("/experiments/{experimentId}/events", ListV1Async);
        v2.MapGet("/experiments/{experimentId}/events", ListV2Async);
        v3.MapGet("/experiments/{experimentId}/events", ListV3Async);
    }

    public static async Task<Results<Accepted, ErrorResult>> PushAsync(string experimentId, HttpContext context, IExperimentEventStore events)
    {
        var (attributes, _, error) = await JsonApi.ReadDataAsync(context, PushType);
        if (error is not null)
        {
            return error.ToResult();
        }

        var (spans, metrics, invalid) = EventValidation.Read(attributes!, experimentId);
        if (invalid is not null)
        {
            return invalid.ToResult();
        }

        return await events.AppendAsync(ProjectEndpoints.Org(context), experimentId, spans!, metrics!, context.RequestAborted)
            ? TypedResults.Accepted((string?)null)
            : ExperimentEndpoints.NotFound(experimentId).ToResult();
    }

    public static async Task<Results<JsonHttpResult<SpansResponse>, ErrorResult>> ListV1Async(string experimentId, HttpContext context, IExperimentStore experiments, IExperimentEventStore events)
    {
        if (await experiments.GetAsync(ProjectEndpoints.Org(context), experimentId, context.RequestAborted) is null)
        {
            return ExperimentEndpoints.NotFound(experimentId).ToResult();
        }

        var spans = await events.ListSpansAsync(experimentId, null, int.MaxValue, context.RequestAborted);
        var metrics = await events.ListMetricsAsync(experimentId, context.RequestAborted);
        var joined = Join(spans, metrics);
        return TypedResults.Json(new SpansResponse(joined.Select(s => new SpanData(s.Id, SpanType, s)).ToList()), EventJson.Default.SpansResponse);
    }

    public static async Task<Results<JsonHttpResult<EventsResponse>, ErrorResult>> ListV2Async(string experimentId, HttpContext context, IExperimentStore experiments, IExperimentEventStore events)
    {
        if (await experiments.GetAsync(ProjectEndpoints.Org(context), experimentId, context.RequestAborted) is null)
        {
            return ExperimentEndpoints.NotFound(experimentId).ToResult();
        }

        var spans = await events.ListSpansAsync(experimentId, null, int.MaxValue, context.RequestAborted);
        var summary = await events.ListSummaryMetricsAsync(experimentId, context.RequestAborted);
        var spanMetrics = await events.ListSpanMetricsAsync(experimentId, spans.Select(s => s.SpanId).ToList(), context.RequestAborted);
        return TypedResults.Json(
            new EventsResponse(new EventsData(experimentId, CollectionType, new EventsAttributes(Join(spans, spanMetrics), Summary(summary))), null),
            EventJson.Default.EventsResponse);
    }

    /// <summary>Pages by spans in push order; summary metrics come with the first page only, so that concatenated pages hold each once.</summary>
    public static async Task<Results<JsonHttpResult<EventsResponse>, ErrorResult>> ListV3Async(string experimentId, HttpContext context, IExperimentStore experiments, IExperimentEventStore events)
    {
        var (limit, limitError) = JsonApi.PageLimit(context.Request.Query, JsonApi.MaxPageLimit);
        var (cursor, cursorError) = JsonApi.Cursor(context.Request.Query);
        if ((limitError ?? cursorError) is { } error)
        {
            return error.ToResult();
        }

        if (await experiments.GetAsync(ProjectEndpoints.Org(context), experimentId, context.RequestAborted) is null)
        {
            return ExperimentEndpoints.NotFound(experimentId).ToResult();
        }

        var afterSeq = cursor?.CreatedAt;
        var rows = await events.ListSpansAsync(experimentId, afterSeq, limit + 1, context.RequestAborted);
        var page = rows.Take(limit).ToList();
        var after = rows.Count > limit ? JsonApi.EncodeCursor(page[^1].Seq, experimentId) : null;
        var spanMetrics = await events.ListSpanMetricsAsync(experimentId, page.Select(s => s.SpanId).ToList(), context.RequestAborted);
        var summary = afterSeq is null ? await events.ListSummaryMetricsAsync(experimentId, context.RequestAborted) : [];
        return TypedResults.Json(
            new EventsResponse(new EventsData(experimentId, CollectionType, new EventsAttributes(Join(page, spanMetrics), Summary(summary))), new EventsMeta(after)),
            EventJson.Default.EventsResponse);
    }

    private static List<SpanWithEvals> Join(IReadOnlyList<ExperimentSpanRow> spans, IReadOnlyList<ExperimentMetricRow> metrics)
    {
        var bySpan = metrics.ToLookup(m => m.SpanId, StringComparer.Ordinal);
        return spans.Select(s => new SpanWithEvals(
            s.Id,
            s.SpanId,
            s.TraceId,
            s.Name,
            s.StartNs,
            s.Duration,
            s.Status,
            Strings(s.Tags),
            ExperimentEndpoints.ParseObject(s.Meta),
            bySpan[s.SpanId].Select(m => Metric(m, s.TraceId, "custom")).ToList())).ToList();
    }

    private static List<EvalMetricEvent> Summary(IReadOnlyList<ExperimentMetricRow> metrics) =>
        metrics.Select(m => Metric(m, null, "summary")).ToList();

    private static EvalMetricEvent Metric(ExperimentMetricRow m, string? traceId, string source) => new(
        m.Id,
        m.SpanId,
        traceId,
        m.MetricType,
        m.Label,
        m.TimestampMs,
        m.ScoreValue,
        m.CategoricalValue,
        m.BooleanValue is null ? null : m.BooleanValue != 0,
        ExperimentEndpoints.ParseObject(m.JsonValue),
        m.Assessment,
        m.Reasoning,
        ExperimentEndpoints.ParseObject(m.Metadata),
        Strings(m.Tags),
        source);

    private static List<string> Strings(string json) =>
        JsonNode.Parse(json) is JsonArray array ? array.Select(t => (string?)t ?? "").ToList() : [];
}
