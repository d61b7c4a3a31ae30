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
/// Runs: resource groups, executions (filters by status, scenario and configuration; keyset paging
/// on an index ending in <c>(created_at, id)</c> for each filter, so page 1,000 costs what page 1
/// does), one execution with its status timeline, log tail, tags and custom info, down-sampled
/// metric series of up to 10 executions (the whole run or a zoomed window), and stop.
/// </summary>
public static class ConsoleRunEndpoints
{
    public const int MaxPageSize = 200;
    public const int MaxCompared = 10;
    public const int DefaultMaxPoints = 2_000;
    public const int MaxFilterValues = 1_000;

    public static RouteGroupBuilder MapConsoleRuns(this RouteGroupBuilder api)
    {
        var runs = api.MapGroup("/resource-groups").RequireAuthorization(ConsoleAuth.Runs);
        runs.MapGet("/", ListResourceGroupsAsync);
        runs.MapGet("/{resourceGroup}/executions", ListExecutionsAsync);
        runs.MapGet("/{resourceGroup}/execution-filters", ListFiltersAsync);
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
        string resourceGroup, string? status, string? scenarioId, string? configurationId, int? limit, string? cursor, IDatabase database, CancellationToken cancellationToken)
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
        var filter = new ExecutionListFilter(resourceGroup, NonEmpty(status), NonEmpty(scenarioId), NonEmpty(configurationId), after?.At, after?.Id, pageSize + 1);
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = (await connection.QueryAsync<ExecutionRow>(new CommandDefinition(ExecutionListSql(filter), filter, cancellationToken: cancellationToken))).AsList();
        var next = rows.Count > pageSize ? EncodeCursor(rows[pageSize - 1]) : null;
        return TypedResults.Json(
            new ExecutionPage([.. rows.Take(pageSize).Select(ExecutionItem.From)], next),
            ConsoleJson.Default.ExecutionPage);
    }

    /// <summary>
    /// One page of the executions list, newest first. Each filter has an index of the form
    /// <c>(resource_group[, filter column], created_at, id)</c> (migration 0015) and the cursor is a
    /// row-value comparison on its last two columns, so both SQLite and PostgreSQL read exactly one
    /// index range of <c>Take</c> entries and sort nothing (ExecutionsPage_100kExecutions_IndexRangeNoSortEveryPage checks the plans).
    /// </summary>
    public static string ExecutionListSql(ExecutionListFilter filter)
    {
        var where = new StringBuilder("resource_group = @ResourceGroup AND deleting_job_id IS NULL");
        if (filter.Status is not null)
        {
            where.Append(" AND status = @Status");
        }

        if (filter.ScenarioId is not null)
        {
            where.Append(" AND scenario_id = @ScenarioId");
        }

        if (filter.ConfigurationId is not null)
        {
            where.Append(" AND configuration_id = @ConfigurationId");
        }

        if (filter.AfterAt is not null)
        {
            where.Append(" AND (created_at, id) < (@AfterAt, @AfterId)");
        }

        return $"""
            SELECT id, resource_group, configuration_id, configuration_name, scenario_id, executable_id, target_status, status,
                   status_message, created_at, modified_at, submission_time, start_time, completion_time
            FROM executions WHERE {where} ORDER BY created_at DESC, id DESC LIMIT @Take
            """;
    }

    /// <summary>The values the list can be filtered by: the group's scenarios and configurations (from its configurations, newest first).</summary>
    public static async Task<JsonHttpResult<ExecutionFilters>> ListFiltersAsync(string resourceGroup, IConfigurationStore configurations, CancellationToken cancellationToken)
    {
        var rows = await configurations.ListAsync(new ConfigurationQuery(resourceGroup, Top: MaxFilterValues), cancellationToken);
        return TypedResults.Json(
            new ExecutionFilters(
                [.. rows.Select(r => r.ScenarioId).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)],
                [.. rows.Select(r => new ConfigurationOption(r.Id, r.Name, r.ScenarioId))]),
            ConsoleJson.Default.ExecutionFilters);
    }

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

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
            Timeline(row),
            row.StatusMessage,
            row.StatusDetails,
            row.ExitCode,
            configuration?.ParameterBindings ?? "[]",
            configuration?.InputArtifactBindings ?? "[]",
            attributes.Where(a => a.Kind == MetricAttributeKinds.Tag).ToDictionary(a => a.Name, a => a.Value),
            attributes.Where(a => a.Kind == MetricAttributeKinds.CustomInfo).ToDictionary(a => a.Name, a => a.Value)),
            ConsoleJson.Default.ExecutionDetail);
    }

    /// <summary>
    /// The status timeline, from the times the store keeps for each status an execution can pass
    /// through: created, submitted (PENDING), started (RUNNING), stop requested (STOPPING) and the
    /// final status at its completion time. A status with no time of its own (a status the runner
    /// set without finishing, on rows written before stop times were kept) is shown at the last
    /// modification, marked as such by its source.
    /// </summary>
    internal static List<TimelineEntry> Timeline(ExecutionRow row)
    {
        static DateTimeOffset At(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);
        var entries = new List<TimelineEntry> { new("CREATED", At(row.CreatedAt), "created_at") };
        if (row.SubmissionTime is { } submitted)
        {
            entries.Add(new("PENDING", At(submitted), "submission_time"));
        }

        if (row.StartTime is { } started)
        {
            entries.Add(new("RUNNING", At(started), "start_time"));
        }

        if (row.StopRequestedAt is { } stopRequested)
        {
            entries.Add(new("STOPPING", At(stopRequested), "stop_requested_at"));
        }

        if (row.CompletionTime is { } completed)
        {
            entries.Add(new(row.Status, At(completed), "completion_time"));
        }
        else if (row.Status != "PENDING" && !(row.Status == "RUNNING" && row.StartTime is not null) && !(row.Status == "STOPPING" && row.StopRequestedAt is not null))
        {
            entries.Add(new(row.Status, At(row.ModifiedAt), "modified_at"));
        }

        return entries;
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
    /// Every metric (or only <c>name</c>) of up to 10 executions, each series down-sampled on the
    /// server to at most <c>maxPoints</c> (min and max of equal-count buckets, so spikes survive) — a
    /// 1,000,000-point series reaches the browser as 2,000 points. With <c>from</c>/<c>to</c> (a
    /// zoomed chart) only that window of the x axis is down-sampled, so zooming in shows more detail.
    /// </summary>
    public static async Task<Results<JsonHttpResult<MetricSeriesResponse>, ErrorResult>> MetricsAsync(
        string resourceGroup, string? executionIds, string? name, int? maxPoints, double? from, double? to, IMetricStore metrics, CancellationToken cancellationToken)
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

        if (from is not null && to is not null && !(from < to))
        {
            return ApiError.BadRequest("InvalidParameter", "from must be less than to (a window on the chart's x axis: steps, or Unix milliseconds for time).").ToResult();
        }

        var budget = maxPoints ?? DefaultMaxPoints;
        var series = new List<MetricSeries>();
        var resources = await metrics.ListLiveAsync(resourceGroup, ids, cancellationToken);
        var window = TimestampWindow(from, to);
        foreach (var resource in resources.OrderBy(r => ids.IndexOf(r.ExecutionId)))
        {
            if (name is not null)
            {
                if (await NamedSeriesAsync(metrics, resource, name, budget, from, to, window, cancellationToken) is { } one)
                {
                    series.Add(one);
                }

                continue;
            }

            var byName = new Dictionary<string, SeriesBuilder>(StringComparer.Ordinal);
            await foreach (var point in metrics.StreamPointsAsync(resource.Id, cancellationToken))
            {
                if (!byName.TryGetValue(point.Name, out var builder))
                {
                    byName[point.Name] = builder = new SeriesBuilder();
                }

                builder.Add(point.Ts, point.Step, point.Value);
            }

            foreach (var (metric, builder) in byName.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                var (axis, points, inWindow) = builder.Downsample(budget, from, to);
                series.Add(new MetricSeries(resource.ExecutionId, metric, axis, builder.Count, points, inWindow));
            }
        }

        return TypedResults.Json(new MetricSeriesResponse(series), ConsoleJson.Default.MetricSeriesResponse);
    }

    /// <summary>
    /// One metric of one execution, read by name in SQL. A zoomed window of a series whose x axis is
    /// time (some point has no step) is read as a timestamp range of the primary key, with the one
    /// point beyond each end; the count and the axis come from an aggregate over the metric, so the
    /// answer is the one the whole series would give. A step axis (not in the key's order) is read
    /// whole and cut in memory.
    /// </summary>
    private static async Task<MetricSeries?> NamedSeriesAsync(
        IMetricStore metrics, MetricResourceRow resource, string name, int budget, double? from, double? to, (long? From, long? To)? window, CancellationToken cancellationToken)
    {
        if (window is { } ts)
        {
            var stats = await metrics.GetNameStatsAsync(resource.Id, name, cancellationToken);
            if (stats.Count == 0)
            {
                return null;
            }

            if (stats.MinStep < 0)
            {
                var part = new SeriesBuilder(timeAxis: true);
                await foreach (var point in metrics.StreamNamedPointsAsync(resource.Id, name, ts.From, ts.To, cancellationToken))
                {
                    part.Add(point.Ts, point.Step, point.Value);
                }

                var (axis, points, inWindow) = part.Downsample(budget, from, to);
                return new MetricSeries(resource.ExecutionId, name, axis, checked((int)stats.Count), points, inWindow);
            }
        }

        var builder = new SeriesBuilder();
        await foreach (var point in metrics.StreamNamedPointsAsync(resource.Id, name, null, null, cancellationToken))
        {
            builder.Add(point.Ts, point.Step, point.Value);
        }

        if (builder.Count == 0)
        {
            return null;
        }

        var (wholeAxis, wholePoints, wholeInWindow) = builder.Downsample(budget, from, to);
        return new MetricSeries(resource.ExecutionId, name, wholeAxis, builder.Count, wholePoints, wholeInWindow);
    }

    /// <summary>
    /// A zoom window as whole timestamps: x ≥ from is ts ≥ ⌈from⌉ and x ≤ to is ts ≤ ⌊to⌋ (exact for
    /// |x| ≤ 2^53, far beyond any Unix millisecond). Null when there is no window or an end is not
    /// such a number (then the series is read whole and cut in memory, as before).
    /// </summary>
    internal static (long? From, long? To)? TimestampWindow(double? from, double? to)
    {
        const double exact = 9_007_199_254_740_992; // 2^53
        if ((from is null && to is null) || from is { } f && !(Math.Abs(f) <= exact) || to is { } t && !(Math.Abs(t) <= exact))
        {
            return null;
        }

        return (from is { } lo ? (long)Math.Ceiling(lo) : null, to is { } hi ? (long)Math.Floor(hi) : null);
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

/// <summary>
/// Collects one metric's points; x is the step when every point has one, else the timestamp
/// (<c>timeAxis</c>: a part of a series known to be on the time axis, whatever its own points have).
/// </summary>
internal sealed class SeriesBuilder(bool timeAxis = false)
{
    private readonly List<long> _ts = [];
    private readonly List<long> _steps = [];
    private readonly List<double> _values = [];
    private bool _allStepped = !timeAxis;

    public int Count => _values.Count;

    public void Add(long ts, long step, double value)
    {
        _ts.Add(ts);
        _steps.Add(step);
        _values.Add(value);
        _allStepped &= step >= 0;
    }

    /// <summary>
    /// Down-samples the whole series, or (zoomed) only the points with from ≤ x ≤ to plus the one
    /// just outside each end, so the line still runs to the window's edges. InWindow counts the
    /// points inside the window (all of them when there is none).
    /// </summary>
    public (string Axis, List<double[]> Points, int InWindow) Downsample(int maxPoints, double? from = null, double? to = null)
    {
        var x = (_allStepped ? _steps : _ts).Select(v => (double)v).ToArray();
        var y = _values.ToArray();
        SortStable(x, y);
        var axis = _allStepped ? "step" : "time";
        if (from is null && to is null)
        {
            return (axis, MinMax(x, y, maxPoints), x.Length);
        }

        var lo = from is { } f ? LowerBound(x, f) : 0;
        var hi = to is { } t ? LowerBound(x, Math.BitIncrement(t)) : x.Length;
        var inWindow = hi - lo;
        var start = Math.Max(0, lo - 1);
        var end = Math.Min(x.Length, hi + 1);
        return (axis, MinMax(x[start..end], y[start..end], maxPoints), inWindow);
    }

    /// <summary>
    /// Sorts by x keeping points of equal x in the order read (timestamp, step, seq), so a window read
    /// on its own orders its ties as the whole series does. Points come in timestamp order: on the
    /// time axis, and mostly on the step axis, they are sorted already.
    /// </summary>
    private static void SortStable(double[] x, double[] y)
    {
        var sorted = true;
        for (var i = 1; i < x.Length && sorted; i++)
        {
            sorted = x[i - 1] <= x[i];
        }

        if (sorted)
        {
            return;
        }

        var order = new int[x.Length];
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }

        var keys = (double[])x.Clone();
        Array.Sort(order, (a, b) => keys[a] != keys[b] ? keys[a].CompareTo(keys[b]) : a.CompareTo(b));
        var values = (double[])y.Clone();
        for (var i = 0; i < order.Length; i++)
        {
            x[i] = keys[order[i]];
            y[i] = values[order[i]];
        }
    }

    /// <summary>The first index whose x is not less than value.</summary>
    private static int LowerBound(double[] x, double value)
    {
        int lo = 0, hi = x.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (x[mid] < value)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
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

/// <summary>The parameters of <see cref="ConsoleRunEndpoints.ExecutionListSql"/> (null: no such filter, no cursor).</summary>
public sealed record ExecutionListFilter(string ResourceGroup, string? Status, string? ScenarioId, string? ConfigurationId, long? AfterAt, string? AfterId, int Take);

public sealed record ConfigurationOption(string Id, string Name, string ScenarioId);

public sealed record ExecutionFilters(List<string> Scenarios, List<ConfigurationOption> Configurations);

/// <summary>One status and since when; Source names the stored time it comes from (see <see cref="ConsoleRunEndpoints.Timeline"/>).</summary>
public sealed record TimelineEntry(string Status, DateTimeOffset At, string Source);

public sealed record ExecutionDetail(
    ExecutionItem Execution,
    List<TimelineEntry> Timeline,
    string? StatusMessage,
    string? StatusDetails,
    long? ExitCode,
    string ParameterBindings,
    string InputArtifactBindings,
    Dictionary<string, string> Tags,
    Dictionary<string, string> CustomInfo);

public sealed record LogTailLine(long Seq, DateTimeOffset Timestamp, string Stream, string Msg);

public sealed record LogTail(List<LogTailLine> Lines);

/// <summary>Total: every point of the series; InWindow: those inside the requested window (Total when none was asked for).</summary>
public sealed record MetricSeries(string ExecutionId, string Name, string Axis, int Total, List<double[]> Points, int InWindow);

public sealed record MetricSeriesResponse(List<MetricSeries> Series);
