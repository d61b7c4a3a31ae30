using System.Data.Common;
using System.Globalization;
using System.Text;
using Dapper;

namespace Runledger.Storage.LlmObs;

/// <summary>A pushed span. JSON columns (<c>Tags</c>, <c>Meta</c>) hold JSON text.</summary>
public sealed record ExperimentSpanRow
{
    public required string ExperimentId { get; init; }
    public long Seq { get; init; }
    public required string Id { get; init; }
    public required string SpanId { get; init; }
    public required string TraceId { get; init; }
    public required string ProjectId { get; init; }
    public required string DatasetId { get; init; }
    public required string Name { get; init; }
    public long StartNs { get; init; }
    public long Duration { get; init; }
    public required string Status { get; init; }
    public required string Tags { get; init; }
    public string? Meta { get; init; }
}

/// <summary>A pushed evaluation metric. JSON columns hold JSON text; <c>BooleanValue</c> is 0/1.</summary>
public sealed record ExperimentMetricRow
{
    public required string ExperimentId { get; init; }
    public long Seq { get; init; }
    public required string Id { get; init; }
    public required string SpanId { get; init; }
    public required string MetricType { get; init; }
    public required string Label { get; init; }
    public long TimestampMs { get; init; }
    public double? ScoreValue { get; init; }
    public string? CategoricalValue { get; init; }
    public long? BooleanValue { get; init; }
    public string? JsonValue { get; init; }
    public string? Assessment { get; init; }
    public string? Reasoning { get; init; }
    public string? Metadata { get; init; }
    public required string Tags { get; init; }
    public string? Error { get; init; }
}

/// <summary>One metric label of an experiment: how many metrics carry it and, over those with a score, mean/min/max.</summary>
public sealed record MetricLabelSummaryRow
{
    public required string Label { get; init; }

    /// <summary>The metric_type of the label's first pushed metric.</summary>
    public required string MetricType { get; init; }
    public long Count { get; init; }
    public long Scores { get; init; }
    public double? Mean { get; init; }
    public double? Min { get; init; }
    public double? Max { get; init; }

    /// <summary>Metrics of the label without a score (their value is tallied instead).</summary>
    public long Unscored { get; init; }

    /// <summary>Metrics of the label with an assessment.</summary>
    public long Assessed { get; init; }
}

/// <summary>How many metrics of a label have one value (or one assessment).</summary>
public sealed record MetricValueCountRow
{
    public required string Label { get; init; }
    public required string Value { get; init; }
    public long Count { get; init; }
}

/// <summary>
/// The score summary of a whole experiment, aggregated in the store: span counts, per label the
/// count and score statistics, the most frequent values of unscored metrics (categorical value,
/// boolean as true/false, JSON text), the assessments, and the first experiment-level metrics
/// (those whose span_id names no span).
/// </summary>
public sealed record ExperimentSummaryRows(
    long Spans,
    long ErrorSpans,
    IReadOnlyList<MetricLabelSummaryRow> Labels,
    IReadOnlyList<MetricValueCountRow> Values,
    IReadOnlyList<MetricValueCountRow> Assessments,
    IReadOnlyList<ExperimentMetricRow> ExperimentMetrics);

public interface IExperimentEventStore
{
    /// <summary>
    /// Appends spans and metrics in ONE write transaction, set-based. False, with nothing stored,
    /// when the experiment does not exist in the organisation or is (soft-)deleted.
    /// </summary>
    Task<bool> AppendAsync(string orgId, string experimentId, IReadOnlyList<ExperimentSpanRow> spans, IReadOnlyList<ExperimentMetricRow> metrics, CancellationToken cancellationToken);

    /// <summary>Spans in push order after <paramref name="afterSeq"/>; at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<ExperimentSpanRow>> ListSpansAsync(string experimentId, long? afterSeq, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// Metrics (push order) whose span_id names a span pushed in (<paramref name="afterSeq"/>, <paramref name="lastSeq"/>]:
    /// the metrics of one page of spans, found by a join on the span table (no list of span ids is bound).
    /// </summary>
    Task<IReadOnlyList<ExperimentMetricRow>> ListSpanMetricsAsync(string experimentId, long afterSeq, long lastSeq, CancellationToken cancellationToken);

    /// <summary>Every metric of the experiment in push order.</summary>
    Task<IReadOnlyList<ExperimentMetricRow>> ListMetricsAsync(string experimentId, CancellationToken cancellationToken);

    /// <summary>Experiment-level metrics: those whose span_id names no span of the experiment.</summary>
    Task<IReadOnlyList<ExperimentMetricRow>> ListSummaryMetricsAsync(string experimentId, CancellationToken cancellationToken);

    /// <summary>
    /// The score summary over every span and metric of the experiment, computed by grouped SQL (no
    /// row is read into memory): per label, and at most <paramref name="topValues"/> values per label
    /// (most frequent first, ties in the order first pushed), and the first <paramref name="experimentMetrics"/>
    /// experiment-level metrics in push order.
    /// </summary>
    Task<ExperimentSummaryRows> SummarizeAsync(string experimentId, int topValues, int experimentMetrics, CancellationToken cancellationToken);
}

public sealed class ExperimentEventStore(IDatabase database) : IExperimentEventStore
{
    private static readonly string[] SpanColumns =
        ["experiment_id", "seq", "id", "span_id", "trace_id", "project_id", "dataset_id", "name", "start_ns", "duration", "status", "tags", "meta"];

    private static readonly string[] MetricColumns =
        ["experiment_id", "seq", "id", "span_id", "metric_type", "label", "timestamp_ms", "score_value", "categorical_value", "boolean_value",
         "json_value", "assessment", "reasoning", "metadata", "tags", "error"];

    // 100 rows per statement: SQLite looks each named parameter up by a linear scan of the
    // statement's names, so the cost of binding grows with the square of the rows per statement
    // (design.md measured 100-row multi-VALUES at ≈ 110,000 rows/s).
    private const int RowsPerStatement = 100;

    public async Task<bool> AppendAsync(string orgId, string experimentId, IReadOnlyList<ExperimentSpanRow> spans, IReadOnlyList<ExperimentMetricRow> metrics, CancellationToken cancellationToken)
    {
        using var turn = await database.EnterWriteQueueAsync(cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);

        // Reserving the range locks the live experiment row: a concurrent delete waits for this
        // push, and a push after the delete finds no live row.
        var count = (long)(spans.Count + metrics.Count);
        var next = await connection.QuerySingleOrDefaultAsync<long?>(new CommandDefinition(
            """
            UPDATE llm_experiments SET event_seq = event_seq + @count
            WHERE id = @experimentId AND org_id = @orgId AND deleting_job_id IS NULL
              AND EXISTS (SELECT 1 FROM llm_projects p WHERE p.id = llm_experiments.project_id AND p.deleting_job_id IS NULL)
            RETURNING event_seq
            """,
            new { experimentId, orgId, count }, transaction, cancellationToken: cancellationToken));
        if (next is null)
        {
            return false;
        }

        var seq = next.Value - count;
        await InsertManyAsync(connection, transaction, "llm_experiment_spans", SpanColumns, spans, (s, i) =>
        [
            experimentId, seq + i, s.Id, s.SpanId, s.TraceId, s.ProjectId, s.DatasetId, s.Name, s.StartNs, s.Duration, s.Status, s.Tags, s.Meta,
        ], cancellationToken);
        seq += spans.Count;
        await InsertManyAsync(connection, transaction, "llm_experiment_metrics", MetricColumns, metrics, (m, i) =>
        [
            experimentId, seq + i, m.Id, m.SpanId, m.MetricType, m.Label, m.TimestampMs, m.ScoreValue, m.CategoricalValue, m.BooleanValue,
            m.JsonValue, m.Assessment, m.Reasoning, m.Metadata, m.Tags, m.Error,
        ], cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    public async Task<IReadOnlyList<ExperimentSpanRow>> ListSpansAsync(string experimentId, long? afterSeq, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<ExperimentSpanRow>(new CommandDefinition(
            $"""
            SELECT {string.Join(", ", SpanColumns)} FROM llm_experiment_spans
            WHERE experiment_id = @experimentId AND seq > @after
            ORDER BY seq LIMIT @limit
            """,
            new { experimentId, after = afterSeq ?? -1, limit }, cancellationToken: cancellationToken));
        return rows.AsList();
    }

    public async Task<IReadOnlyList<ExperimentMetricRow>> ListSpanMetricsAsync(string experimentId, long afterSeq, long lastSeq, CancellationToken cancellationToken)
    {
        if (lastSeq <= afterSeq)
        {
            return [];
        }

        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<ExperimentMetricRow>(new CommandDefinition(
            $"""
            SELECT {string.Join(", ", MetricColumns.Select(c => "m." + c))} FROM llm_experiment_metrics m
            WHERE m.experiment_id = @experimentId
              AND m.span_id IN (SELECT s.span_id FROM llm_experiment_spans s
                                WHERE s.experiment_id = @experimentId AND s.seq > @afterSeq AND s.seq <= @lastSeq)
            ORDER BY m.seq
            """,
            new { experimentId, afterSeq, lastSeq }, cancellationToken: cancellationToken));
        return rows.AsList();
    }

    public async Task<IReadOnlyList<ExperimentMetricRow>> ListMetricsAsync(string experimentId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<ExperimentMetricRow>(new CommandDefinition(
            $"SELECT {string.Join(", ", MetricColumns)} FROM llm_experiment_metrics WHERE experiment_id = @experimentId ORDER BY seq",
            new { experimentId }, cancellationToken: cancellationToken));
        return rows.AsList();
    }

    public async Task<IReadOnlyList<ExperimentMetricRow>> ListSummaryMetricsAsync(string experimentId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<ExperimentMetricRow>(new CommandDefinition(
            $"""
            SELECT {string.Join(", ", MetricColumns.Select(c => "m." + c))} FROM llm_experiment_metrics m
            WHERE m.experiment_id = @experimentId
              AND NOT EXISTS (SELECT 1 FROM llm_experiment_spans s WHERE s.experiment_id = m.experiment_id AND s.span_id = m.span_id)
            ORDER BY m.seq
            """,
            new { experimentId }, cancellationToken: cancellationToken));
        return rows.AsList();
    }

    public async Task<ExperimentSummaryRows> SummarizeAsync(string experimentId, int topValues, int experimentMetrics, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var args = new { experimentId, topValues, experimentMetrics };
        var spans = await connection.QuerySingleAsync<(long Spans, long Errors)>(new CommandDefinition(
            """
            SELECT COUNT(*) AS spans, COALESCE(SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END), 0) AS errors
            FROM llm_experiment_spans WHERE experiment_id = @experimentId
            """,
            args, cancellationToken: cancellationToken));

        // One pass over the experiment's metrics (its primary-key range) grouped by label and
        // assessment (at most three groups a label), merged per label here; the type is the first pushed metric's.
        var groups = (await connection.QueryAsync<LabelGroup>(new CommandDefinition(
            """
            SELECT g.label, g.assessment, f.metric_type, g.count, g.scores, g.total, g.min, g.max, g.first_seq
            FROM (SELECT label, assessment, COUNT(*) AS count, COUNT(score_value) AS scores, SUM(score_value) AS total,
                         MIN(score_value) AS min, MAX(score_value) AS max, MIN(seq) AS first_seq
                  FROM llm_experiment_metrics WHERE experiment_id = @experimentId GROUP BY label, assessment) g
            JOIN llm_experiment_metrics f ON f.experiment_id = @experimentId AND f.seq = g.first_seq
            """,
            args, cancellationToken: cancellationToken))).AsList();
        var labels = groups.GroupBy(g => g.Label, StringComparer.Ordinal).OrderBy(l => l.Key, StringComparer.Ordinal).Select(l =>
        {
            var scores = l.Sum(g => g.Scores);
            return new MetricLabelSummaryRow
            {
                Label = l.Key,
                MetricType = l.MinBy(g => g.FirstSeq)!.MetricType,
                Count = l.Sum(g => g.Count),
                Scores = scores,
                Mean = scores == 0 ? null : l.Sum(g => g.Total ?? 0) / scores,
                Min = l.Min(g => g.Min),
                Max = l.Max(g => g.Max),
                Unscored = l.Sum(g => g.Count - g.Scores),
                Assessed = l.Where(g => g.Assessment is not null).Sum(g => g.Count),
            };
        }).ToList();
        var assessments = groups.Where(g => g.Assessment is not null)
            .OrderBy(g => g.Label, StringComparer.Ordinal).ThenByDescending(g => g.Count).ThenBy(g => g.FirstSeq)
            .Select(g => new MetricValueCountRow { Label = g.Label, Value = g.Assessment!, Count = g.Count }).ToList();
        var values = await TopValuesAsync(
            connection,
            "COALESCE(categorical_value, CASE boolean_value WHEN 1 THEN 'true' WHEN 0 THEN 'false' END, json_value, '')",
            "score_value IS NULL",
            args,
            cancellationToken);
        var level = await connection.QueryAsync<ExperimentMetricRow>(new CommandDefinition(
            $"""
            SELECT {string.Join(", ", MetricColumns.Select(c => "m." + c))} FROM llm_experiment_metrics m
            WHERE m.experiment_id = @experimentId
              AND NOT EXISTS (SELECT 1 FROM llm_experiment_spans s WHERE s.experiment_id = m.experiment_id AND s.span_id = m.span_id)
            ORDER BY m.seq LIMIT @experimentMetrics
            """,
            args, cancellationToken: cancellationToken));
        return new ExperimentSummaryRows(spans.Spans, spans.Errors, labels, values, assessments, level.AsList());
    }

    private sealed record LabelGroup
    {
        public required string Label { get; init; }
        public string? Assessment { get; init; }
        public required string MetricType { get; init; }
        public long Count { get; init; }
        public long Scores { get; init; }
        public double? Total { get; init; }
        public double? Min { get; init; }
        public double? Max { get; init; }
        public long FirstSeq { get; init; }
    }

    /// <summary>Per label, the <c>@topValues</c> most frequent values of <paramref name="value"/> (ties: the value pushed first comes first).</summary>
    private static async Task<IReadOnlyList<MetricValueCountRow>> TopValuesAsync(DbConnection connection, string value, string where, object args, CancellationToken cancellationToken)
    {
        var rows = await connection.QueryAsync<MetricValueCountRow>(new CommandDefinition(
            $"""
            SELECT label, value, count FROM (
              SELECT label, value, COUNT(*) AS count, ROW_NUMBER() OVER (PARTITION BY label ORDER BY COUNT(*) DESC, MIN(seq)) AS rank
              FROM (SELECT label, {value} AS value, seq FROM llm_experiment_metrics WHERE experiment_id = @experimentId AND {where}) v
              GROUP BY label, value) t
            WHERE rank <= @topValues
            ORDER BY label, rank
            """,
            args, cancellationToken: cancellationToken));
        return rows.AsList();
    }

    /// <summary>Multi-row INSERT … VALUES (…), (…) in chunks: one round trip per chunk, not per row.</summary>
    private static async Task InsertManyAsync<T>(DbConnection connection, DbTransaction transaction, string table, string[] columns, IReadOnlyList<T> rows, Func<T, int, object?[]> values, CancellationToken cancellationToken)
    {
        for (var start = 0; start < rows.Count; start += RowsPerStatement)
        {
            var end = Math.Min(rows.Count, start + RowsPerStatement);
            var sql = new StringBuilder($"INSERT INTO {table} ({string.Join(", ", columns)}) VALUES ");
            var parameters = new DynamicParameters();
            for (var i = start; i < end; i++)
            {
                var row = values(rows[i], i);
                sql.Append(i == start ? "(" : ", (");
                for (var c = 0; c < columns.Length; c++)
                {
                    var name = string.Create(CultureInfo.InvariantCulture, $"p{i - start}_{c}");
                    sql.Append(c == 0 ? "@" : ", @").Append(name);
                    parameters.Add(name, row[c]);
                }

                sql.Append(')');
            }

            await connection.ExecuteAsync(new CommandDefinition(sql.ToString(), parameters, transaction, cancellationToken: cancellationToken));
        }
    }
}
