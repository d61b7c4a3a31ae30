using System.Text.Json;
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

    /// <summary>Spans read from the store per round trip by the unpaged v1 and v2 listings.</summary>
    public const int ReadPage = 5000;

    /// <summary>v1 (spans only) in full, as the spec says, streamed in pages of <see cref="ReadPage"/> spans.</summary>
    public static async Task<Results<StreamedEvents, ErrorResult>> ListV1Async(string experimentId, HttpContext context, IExperimentStore experiments, IExperimentEventStore events) =>
        await experiments.GetAsync(ProjectEndpoints.Org(context), experimentId, context.RequestAborted) is null
            ? ExperimentEndpoints.NotFound(experimentId).ToResult()
            : new StreamedEvents(experimentId, events, WithSummary: false);

    /// <summary>v2 (spans and summary metrics) in full, as the spec says, streamed in pages of <see cref="ReadPage"/> spans.</summary>
    public static async Task<Results<StreamedEvents, ErrorResult>> ListV2Async(string experimentId, HttpContext context, IExperimentStore experiments, IExperimentEventStore events) =>
        await experiments.GetAsync(ProjectEndpoints.Org(context), experimentId, context.RequestAborted) is null
            ? ExperimentEndpoints.NotFound(experimentId).ToResult()
            : new StreamedEvents(experimentId, events, WithSummary: true);

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
        var spanMetrics = page.Count == 0 ? [] : await events.ListSpanMetricsAsync(experimentId, afterSeq ?? -1, page[^1].Seq, context.RequestAborted);
        var summary = afterSeq is null ? await events.ListSummaryMetricsAsync(experimentId, context.RequestAborted) : [];
        return TypedResults.Json(
            new EventsResponse(new EventsData(experimentId, CollectionType, new EventsAttributes(Join(page, spanMetrics), Summary(summary))), new EventsMeta(after)),
            EventJson.Default.EventsResponse);
    }

    /// <summary>
    /// The unpaged listings written as they are read: each page of spans and its metrics (a join on
    /// the span table by push-order range, no bound id list) is serialised and flushed before the
    /// next is read, so memory stays bounded by one page whatever the experiment holds. v1 is
    /// <c>{"data":[SpanData…]}</c>; v2 <c>{"data":{"id","type","attributes":{"spans","summary_metrics"}}}</c>.
    /// </summary>
    public sealed record StreamedEvents(string ExperimentId, IExperimentEventStore Events, bool WithSummary) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            var cancellationToken = httpContext.RequestAborted;
            var options = EventJson.Default.Options;
            httpContext.Response.StatusCode = StatusCodes.Status200OK;
            httpContext.Response.ContentType = "application/json; charset=utf-8";
            // Over the PipeWriter the serialiser's own flushes only advance the buffer (a Stream would
            // write synchronously, which Kestrel forbids); each page is sent by FlushPageAsync.
            var body = httpContext.Response.BodyWriter;
            await using var writer = new Utf8JsonWriter(body, new JsonWriterOptions { Encoder = options.Encoder, Indented = options.WriteIndented });
            writer.WriteStartObject();
            if (WithSummary)
            {
                writer.WriteStartObject("data");
                writer.WriteString("id", ExperimentId);
                writer.WriteString("type", CollectionType);
                writer.WriteStartObject("attributes");
                writer.WriteStartArray("spans");
            }
            else
            {
                writer.WriteStartArray("data");
            }

            var after = -1L;
            while (true)
            {
                var page = await Events.ListSpansAsync(ExperimentId, after, ReadPage, cancellationToken);
                if (page.Count == 0)
                {
                    break;
                }

                var metrics = await Events.ListSpanMetricsAsync(ExperimentId, after, page[^1].Seq, cancellationToken);
                foreach (var span in Join(page, metrics))
                {
                    if (WithSummary)
                    {
                        JsonSerializer.Serialize(writer, span, EventJson.Default.SpanWithEvals);
                    }
                    else
                    {
                        JsonSerializer.Serialize(writer, new SpanData(span.Id, SpanType, span), EventJson.Default.SpanData);
                    }
                }

                await FlushPageAsync(writer, body, cancellationToken);
                after = page[^1].Seq;
                if (page.Count < ReadPage)
                {
                    break;
                }
            }

            writer.WriteEndArray();
            if (WithSummary)
            {
                writer.WriteStartArray("summary_metrics");
                foreach (var metric in Summary(await Events.ListSummaryMetricsAsync(ExperimentId, cancellationToken)))
                {
                    JsonSerializer.Serialize(writer, metric, EventJson.Default.EvalMetricEvent);
                }

                writer.WriteEndArray();
                writer.WriteEndObject();
                writer.WriteEndObject();
            }

            writer.WriteEndObject();
            await FlushPageAsync(writer, body, cancellationToken);
        }

        private static async Task FlushPageAsync(Utf8JsonWriter writer, System.IO.Pipelines.PipeWriter body, CancellationToken cancellationToken)
        {
            await writer.FlushAsync(cancellationToken);
            await body.FlushAsync(cancellationToken);
        }
    }

    internal static List<SpanWithEvals> Join(IReadOnlyList<ExperimentSpanRow> spans, IReadOnlyList<ExperimentMetricRow> metrics)
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

    internal static List<EvalMetricEvent> Summary(IReadOnlyList<ExperimentMetricRow> metrics) =>
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
