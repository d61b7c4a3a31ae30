using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using Runledger.Server.Hosting;
using Runledger.Server.LlmObs.Datasets;
using Runledger.Server.LlmObs.Events;
using Runledger.Server.LlmObs.Experiments;
using Runledger.Server.LlmObs.Projects;
using Runledger.Server.LlmObs.Records;
using Runledger.Storage.LlmObs;

namespace Runledger.Server.WebConsole;

/// <summary>
/// LLM Observability pages: the dialect's own read handlers, mounted under <c>/ui/api/llm-obs/v1</c>
/// behind the console session (the session carries the same organisation and scope claims a
/// Datadog key pair does). Answers keep the JSON:API shape; errors are ProblemDetails here.
/// Experiment delete and restore go through <c>/ui/api/deletions</c> with a preview. The experiment
/// page reads its spans a page at a time (<c>/spans</c>, keyset on push order) and its score summary
/// aggregated in SQL (<c>/summary</c>), so an experiment of 1,000,000 events costs the browser one page.
/// </summary>
public static class ConsoleLlmObsEndpoints
{
    public static RouteGroupBuilder MapConsoleLlmObs(this RouteGroupBuilder api)
    {
        var v1 = api.MapGroup("/llm-obs/v1").RequireAuthorization(ConsoleAuth.LlmRead);
        v1.MapGet("/projects", ProjectEndpoints.ListAsync);
        v1.MapGet("/{projectId}/datasets", DatasetEndpoints.ListAsync);
        v1.MapGet("/{projectId}/datasets/{datasetId}/versions", DatasetEndpoints.ListVersionsAsync);
        v1.MapGet("/{projectId}/datasets/{datasetId}/records", RecordEndpoints.ListAsync);
        v1.MapGet("/{projectId}/datasets/{datasetId}/export", RecordTransfer.ExportAsync);
        v1.MapGet("/experiments", ExperimentEndpoints.ListAsync);
        v1.MapGet("/experiments/{experimentId}/events", EventEndpoints.ListV2Async);
        v1.MapGet("/experiments/{experimentId}/spans", SpansAsync);
        v1.MapGet("/experiments/{experimentId}/summary", SummaryAsync);
        return api;
    }

    public const int DefaultSpanPage = 50;
    public const int MaxSpanPage = 200;

    /// <summary>Values listed per metric label in the summary (most frequent first); the rest are counted as others.</summary>
    public const int TopValues = 10;

    /// <summary>Experiment-level metrics listed in the summary (the first pushed).</summary>
    public const int ExperimentMetrics = 100;

    /// <summary>
    /// One page of spans with their evaluation metrics, in push order: the store's keyset on the
    /// span table's primary key <c>(experiment_id, seq)</c> (seq is unique, so no two spans tie,
    /// whatever their start times), then the page's metrics by that seq range.
    /// </summary>
    public static async Task<Results<JsonHttpResult<ExperimentSpanPage>, ErrorResult>> SpansAsync(
        string experimentId, string? limit, string? cursor, HttpContext context, IExperimentStore experiments, IExperimentEventStore events)
    {
        var pageSize = DefaultSpanPage;
        if (limit is not null && !(int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out pageSize) && pageSize is >= 1 and <= MaxSpanPage))
        {
            return ApiError.BadRequest("InvalidParameter", $"limit must be between 1 and {MaxSpanPage}.").ToResult();
        }

        long? after = null;
        if (!string.IsNullOrEmpty(cursor) && (after = DecodeCursor(cursor, experimentId)) is null)
        {
            return ApiError.BadRequest("InvalidParameter", "cursor is not one this server gave out for this experiment; pass nextCursor of the previous page unchanged.").ToResult();
        }

        if (await experiments.GetAsync(ProjectEndpoints.Org(context), experimentId, context.RequestAborted) is null)
        {
            return ExperimentEndpoints.NotFound(experimentId).ToResult();
        }

        var rows = await events.ListSpansAsync(experimentId, after, pageSize + 1, context.RequestAborted);
        var page = rows.Take(pageSize).ToList();
        var metrics = page.Count == 0 ? [] : await events.ListSpanMetricsAsync(experimentId, after ?? -1, page[^1].Seq, context.RequestAborted);
        var next = rows.Count > pageSize ? EncodeCursor(page[^1].Seq, experimentId) : null;
        return TypedResults.Json(new ExperimentSpanPage(EventEndpoints.Join(page, metrics), next), ConsoleLlmObsJson.Default.ExperimentSpanPage);
    }

    /// <summary>The score summary of every event of the experiment, aggregated by the store in SQL.</summary>
    public static async Task<Results<JsonHttpResult<ExperimentSummary>, ErrorResult>> SummaryAsync(
        string experimentId, HttpContext context, IExperimentStore experiments, IExperimentEventStore events)
    {
        if (await experiments.GetAsync(ProjectEndpoints.Org(context), experimentId, context.RequestAborted) is null)
        {
            return ExperimentEndpoints.NotFound(experimentId).ToResult();
        }

        var rows = await events.SummarizeAsync(experimentId, TopValues, ExperimentMetrics, context.RequestAborted);
        var values = rows.Values.ToLookup(v => v.Label, StringComparer.Ordinal);
        var assessments = rows.Assessments.ToLookup(v => v.Label, StringComparer.Ordinal);
        var metrics = rows.Labels.Select(l => new MetricSummary(
            l.Label,
            l.MetricType,
            l.Count,
            l.Scores,
            l.Mean,
            l.Min,
            l.Max,
            [.. values[l.Label].Select(v => new ValueCount(v.Value, v.Count))],
            l.Unscored - values[l.Label].Sum(v => v.Count),
            [.. assessments[l.Label].Select(v => new ValueCount(v.Value, v.Count))])).ToList();
        return TypedResults.Json(
            new ExperimentSummary(rows.Spans, rows.ErrorSpans, metrics, EventEndpoints.Summary(rows.ExperimentMetrics)),
            ConsoleLlmObsJson.Default.ExperimentSummary);
    }

    private static string EncodeCursor(long seq, string experimentId) =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{seq}:{experimentId}")));

    /// <summary>The seq a cursor continues after; null when it is malformed or was given out for another experiment.</summary>
    private static long? DecodeCursor(string cursor, string experimentId)
    {
        try
        {
            var text = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(cursor));
            var colon = text.IndexOf(':', StringComparison.Ordinal);
            return colon > 0 && text.AsSpan(colon + 1).SequenceEqual(experimentId)
                && long.TryParse(text.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out var seq) ? seq : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }
}

/// <summary>A page of spans (the v2 span shape); <c>next_cursor</c> is null on the last page.</summary>
public sealed record ExperimentSpanPage(
    List<SpanWithEvals> Spans,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? NextCursor);

/// <summary>How many metrics of a label have one value (or assessment).</summary>
public sealed record ValueCount(string Value, long Count);

/// <summary>
/// One metric label over the whole experiment: Count metrics, Scores of them with a score (mean,
/// min and max over those), the most frequent values of the unscored ones (OtherValues counts the
/// unscored metrics whose value is not listed) and the assessments.
/// </summary>
public sealed record MetricSummary(
    string Label,
    string MetricType,
    long Count,
    long Scores,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] double? Mean,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] double? Min,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] double? Max,
    List<ValueCount> Values,
    long OtherValues,
    List<ValueCount> Assessments);

/// <summary>The experiment page's header and score summary; ExperimentMetrics are the first experiment-level metrics (no span).</summary>
public sealed record ExperimentSummary(long Spans, long ErrorSpans, List<MetricSummary> Metrics, List<EvalMetricEvent> ExperimentMetrics);

/// <summary>The console's experiment answers, in the LLM Obs pages' snake_case (spans and metrics as the v2 listing writes them).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ExperimentSpanPage))]
[JsonSerializable(typeof(ExperimentSummary))]
internal sealed partial class ConsoleLlmObsJson : JsonSerializerContext;
