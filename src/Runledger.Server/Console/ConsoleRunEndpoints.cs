using System.Buffers.Text;
using System.Globalization;
using System.Text;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Runledger.Server.AiApi.Executions;
using Runledger.Server.Hosting;
using Runledger.Storage;
using Runledger.Storage.Executions;
using Runledger.Storage.Metrics;
using Runledger.Storage.ResourceGroups;

namespace Runledger.Server.WebConsole;

/// <summary>
/// Runs: resource groups, executions (keyset paging on the <c>(resource_group, created_at)</c> index,
/// so page 1,000 costs what page 1 does), one execution with its log tail, tags and custom info,
/// down-sampled metric series of up to 10 executions, and stop.
/// </summary>
public static class ConsoleRunEndpoints
{
    public const int MaxPageSize = 200;
    public const int MaxCompared = 10;
    public const int DefaultMaxPoints = 2_000;

    public static RouteGroupBuilder MapConsoleRuns(this RouteGroupBuilder api)
    {
        var runs = api.MapGroup("/resource-groups").RequireAuthorization(ConsoleAuth.Runs);
        runs.MapGet("/", ListResourceGroupsAsync);
        runs.MapGet("/{resourceGroup}/executions", ListExecutionsAsync);
        runs.MapGet("/{resourceGroup}/executions/{executionId}", GetExecutionAsync);
        runs.MapGet("/{resourceGroup}/executions/{executionId}/logs", LogTailAsync);
        runs.MapPost("/{resourceGroup}/executions/{executionId}/stop", StopAsync);
        runs.MapGet("/{resourceGroup}/metrics", MetricsAsync);
        return api;
    }

    public static async Task<JsonHttpResult<ResourceGroupList>> ListResourceGroupsAsync(IResourceGroupStore groups, CancellationToken cancellationToken)
    {
        var rows = await groups.ListVisibleAsync(cancellationToken);
        return TypedResults.Json(
            new ResourceGroupList([.. rows.Select(r => new ResourceGroupItem(r.Id, r.Status, DateTimeOffset.FromUnixTimeMilliseconds(r.CreatedAt)))]),
            ConsoleJson.Default.ResourceGroupList);
    }

    public static async Task<Results<JsonHttpResult<ExecutionPage>, ErrorResult>> ListExecutionsAsync(
        string resourceGroup, string? status, int? limit, string? cursor, IDatabase database, CancellationToken cancellationToken)
    {
        if (status is not null && !ExecutionStatus.All.Contains(status))
        {
            return ApiError.BadRequest("InvalidParameter", $"status '{status}' is unknown; use one of {string.Join(", ", ExecutionStatus.All)}.").ToResult();
        }

        if (limit is < 1 or > MaxPageSize)
        {
            return ApiError.BadRequest("InvalidParameter", $"limit must be between 1 and {MaxPageSize}.").ToResult();
        }

        (long At, string Id)? after = null;
        if (cursor is not null && (after = DecodeCursor(cursor)) is null)
        {
            return ApiError.BadRequest("InvalidParameter", "cursor is not one this server gave out; pass nextCursor of the previous page unchanged.").ToResult();
        }

        var pageSize = limit ?? 50;
        var where = new StringBuilder("resource_group = @resourceGroup AND deleting_job_id IS NULL");
        if (status is not null)
        {
            where.Append(" AND status = @status");
        }

        if (after is not null)
        {
            where.Append(" AND (created_at < @afterAt OR (created_at = @afterAt AND id < @afterId))");
        }

        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = (await connection.QueryAsync<ExecutionRow>(new CommandDefinition(
            $"""
            SELECT id, resource_group, configuration_id, configuration_name, scenario_id, executable_id, target_status, status,
                   status_message, created_at, modified_at, start_time, completion_time
            FROM executions WHERE {where} ORDER BY created_at DESC, id DESC LIMIT @take
            """,
            new { resourceGroup, status, afterAt = after?.At, afterId = after?.Id, take = pageSize + 1 },
            cancellationToken: cancellationToken))).AsList();
        var next = rows.Count > pageSize ? EncodeCursor(rows[pageSize - 1]) : null;
        return TypedResults.Json(
            new ExecutionPage([.. rows.Take(pageSize).Select(ExecutionItem.From)], next),
            ConsoleJson.Default.ExecutionPage);
    }

    public static async Task<Results<JsonHttpResult<ExecutionDetail>, ErrorResult>> GetExecutionAsync(
        string resourceGroup, string executionId, IExecutionStore executions, IConfigurationStore configurations, IMetricStore metrics, CancellationToken cancellationToken)
    {
        var row = await executions.GetAsync(resourceGroup, executionId, cancellationToken);
        if (row is null || row.DeletingJobId is not null)
        {
            return ExecutionCommands.NotFound(resourceGroup, executionId).ToResult();
        }

        var configuration = await configurations.GetAsync(resourceGroup, row.ConfigurationId, cancellationToken);
        var resources = await metrics.ListLiveAsync(resourceGroup, [executionId], cancellationToken);
        var attributes = resources.Count == 0 ? [] : await metrics.ListAttributesAsync([.. resources.Select(r => r.Id)], cancellationToken);
        return TypedResults.Json(new ExecutionDetail(
            ExecutionItem.From(row),
            row.StatusMessage,
            row.StatusDetails,
            row.ExitCode,
            configuration?.ParameterBindings ?? "[]",
            configuration?.InputArtifactBindings ?? "[]",
            attributes.Where(a => a.Kind == MetricAttributeKinds.Tag).ToDictionary(a => a.Name, a => a.Value),
            attributes.Where(a => a.Kind == MetricAttributeKinds.CustomInfo).ToDictionary(a => a.Name, a => a.Value)),
            ConsoleJson.Default.ExecutionDetail);
    }

    public static async Task<Results<JsonHttpResult<LogTail>, ErrorResult>> LogTailAsync(
        string resourceGroup, string executionId, int? top, IExecutionStore executions, CancellationToken cancellationToken)
    {
        if (top is < 1 or > 1000)
        {
            return ApiError.BadRequest("InvalidParameter", "top must be between 1 and 1000.").ToResult();
        }

        var lines = await executions.ListLogsAsync(new LogQuery(resourceGroup, executionId, top ?? 200, null, null, Descending: true), cancellationToken);
        return TypedResults.Json(
            new LogTail([.. lines.Reverse().Select(l => new LogTailLine(l.Seq, DateTimeOffset.FromUnixTimeMilliseconds(l.Ts), l.Stream, l.Msg))]),
            ConsoleJson.Default.LogTail);
    }

    public static async Task<Results<NoContent, ErrorResult>> StopAsync(string resourceGroup, string executionId, ExecutionCommands commands, CancellationToken cancellationToken)
    {
        var outcome = await commands.StopAsync(resourceGroup, executionId, cancellationToken);
        return outcome.Error is { } error ? error.ToResult() : TypedResults.NoContent();
    }

    /// <summary>
    /// Every metric of up to 10 executions, each series down-sampled on the server to at most
    /// <c>maxPoints</c> (min and max of equal-width buckets, so spikes survive) — a 1,000,000-point
    /// series reaches the browser as 2,000 points.
    /// </summary>
    public static async Task<Results<JsonHttpResult<MetricSeriesResponse>, ErrorResult>> MetricsAsync(
        string resourceGroup, string? executionIds, int? maxPoints, IMetricStore metrics, CancellationToken cancellationToken)
    {
        var ids = (executionIds ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct(StringComparer.Ordinal).ToList();
        if (ids.Count is < 1 or > MaxCompared)
        {
            return ApiError.BadRequest("InvalidParameter", $"executionIds must list 1 to {MaxCompared} execution ids, comma-separated.").ToResult();
        }

        if (maxPoints is < 10 or > 10_000)
        {
            return ApiError.BadRequest("InvalidParameter", "maxPoints must be between 10 and 10000.").ToResult();
        }

        var budget = maxPoints ?? DefaultMaxPoints;
        var series = new List<MetricSeries>();
        var resources = await metrics.ListLiveAsync(resourceGroup, ids, cancellationToken);
        foreach (var resource in resources.OrderBy(r => ids.IndexOf(r.ExecutionId)))
        {
            var byName = new Dictionary<string, SeriesBuilder>(StringComparer.Ordinal);
            await foreach (var point in metrics.StreamPointsAsync(resource.Id, cancellationToken))
            {
                if (!byName.TryGetValue(point.Name, out var builder))
                {
                    byName[point.Name] = builder = new SeriesBuilder();
                }

                builder.Add(point.Ts, point.Step, point.Value);
            }

            foreach (var (name, builder) in byName.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                var (axis, points) = builder.Downsample(budget);
                series.Add(new MetricSeries(resource.ExecutionId, name, axis, builder.Count, points));
            }
        }

        return TypedResults.Json(new MetricSeriesResponse(series), ConsoleJson.Default.MetricSeriesResponse);
    }

    private static string EncodeCursor(ExecutionRow row) =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{row.CreatedAt}:{row.Id}")));

    private static (long, string)? DecodeCursor(string cursor)
    {
        try
        {
            var text = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(cursor));
            var colon = text.IndexOf(':', StringComparison.Ordinal);
            return colon > 0 && long.TryParse(text.AsSpan(0, colon), NumberStyles.Integer, CultureInfo.InvariantCulture, out var at) ? (at, text[(colon + 1)..]) : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }
}

/// <summary>Collects one metric's points; x is the step when every point has one, else the timestamp.</summary>
internal sealed class SeriesBuilder
{
    private readonly List<long> _ts = [];
    private readonly List<long> _steps = [];
    private readonly List<double> _values = [];
    private bool _allStepped = true;

    public int Count => _values.Count;

    public void Add(long ts, long step, double value)
    {
        _ts.Add(ts);
        _steps.Add(step);
        _values.Add(value);
        _allStepped &= step >= 0;
    }

    public (string Axis, List<double[]> Points) Downsample(int maxPoints)
    {
        var x = (_allStepped ? _steps : _ts).Select(v => (double)v).ToArray();
        var y = _values.ToArray();
        Array.Sort(x, y);
        return (_allStepped ? "step" : "time", MinMax(x, y, maxPoints));
    }

    /// <summary>Min and max of each of maxPoints/2 equal-count buckets, in x order; the first and last points stay.</summary>
    internal static List<double[]> MinMax(double[] x, double[] y, int maxPoints)
    {
        var n = x.Length;
        var result = new List<double[]>(Math.Min(n, maxPoints));
        if (n <= maxPoints)
        {
            for (var i = 0; i < n; i++)
            {
                result.Add([x[i], y[i]]);
            }

            return result;
        }

        var buckets = maxPoints / 2;
        for (var b = 0; b < buckets; b++)
        {
            var start = (int)((long)b * n / buckets);
            var end = (int)((long)(b + 1) * n / buckets);
            int min = start, max = start;
            for (var i = start + 1; i < end; i++)
            {
                if (y[i] < y[min])
                {
                    min = i;
                }

                if (y[i] > y[max])
                {
                    max = i;
                }
            }

            var first = Math.Min(min, max);
            var second = Math.Max(min, max);
            result.Add([x[first], y[first]]);
            if (second != first)
            {
                result.Add([x[second], y[second]]);
            }
        }

        // The chart spans the whole series: its ends are the real first and last points.
        result[0] = [x[0], y[0]];
        result[^1] = [x[n - 1], y[n - 1]];
        return result;
    }
}

public sealed record ResourceGroupItem(string Id, string Status, DateTimeOffset CreatedAt);

public sealed record ResourceGroupList(List<ResourceGroupItem> Resources);

public sealed record ExecutionItem(
    string Id,
    string Status,
    string TargetStatus,
    string? ScenarioId,
    string? ExecutableId,
    string ConfigurationId,
    string? ConfigurationName,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    long? DurationMs)
{
    public static ExecutionItem From(ExecutionRow row) => new(
        row.Id,
        row.Status,
        row.TargetStatus,
        row.ScenarioId,
        row.ExecutableId,
        row.ConfigurationId,
        row.ConfigurationName,
        DateTimeOffset.FromUnixTimeMilliseconds(row.CreatedAt),
        row.StartTime is { } s ? DateTimeOffset.FromUnixTimeMilliseconds(s) : null,
        row.CompletionTime is { } c ? DateTimeOffset.FromUnixTimeMilliseconds(c) : null,
        row.CompletionTime is { } end ? end - (row.StartTime ?? row.CreatedAt) : null);
}

public sealed record ExecutionPage(List<ExecutionItem> Resources, string? NextCursor);

public sealed record ExecutionDetail(
    ExecutionItem Execution,
    string? StatusMessage,
    string? StatusDetails,
    long? ExitCode,
    string ParameterBindings,
    string InputArtifactBindings,
    Dictionary<string, string> Tags,
    Dictionary<string, string> CustomInfo);

public sealed record LogTailLine(long Seq, DateTimeOffset Timestamp, string Stream, string Msg);

public sealed record LogTail(List<LogTailLine> Lines);

public sealed record MetricSeries(string ExecutionId, string Name, string Axis, int Total, List<double[]> Points);

public sealed record MetricSeriesResponse(List<MetricSeries> Series);
