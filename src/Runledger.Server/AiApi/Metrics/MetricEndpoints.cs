using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;
using Runledger.Server.AiApi.ResourceGroups;
using Runledger.Server.Auth;
using Runledger.Server.Hosting;
using Runledger.Server.Lifecycle;
using Runledger.Storage.Metrics;

namespace Runledger.Server.AiApi.Metrics;

/// <summary><c>/v2/lm/metrics</c>: log (PATCH), query (GET) and delete (DELETE) an execution's metrics, tags and customInfo.</summary>
public static partial class MetricEndpoints
{
    private const string ReservedLabelPrefix = "metrics.ai.sap.com/";
    private const string ArtifactLabel = "metrics.ai.sap.com/Artifact.name";
    private static readonly string[] SelectItems = ["metrics", "tags", "customInfo", "*"];

    public static RouteGroupBuilder MapMetrics(this RouteGroupBuilder group)
    {
        // An execution's own process may log here with its scoped token (checked in the handler).
        group.MapPatch("/metrics", PatchAsync).WithMetadata(new AllowExecutionTokenAttribute());
        group.MapGet("/metrics", FindAsync);
        group.MapDelete("/metrics", DeleteAsync);
        return group;
    }

    public static async Task<Results<NoContent, ErrorResult>> PatchAsync(HttpContext context, IMetricStore metrics, TimeProvider time)
    {
        var (bytes, bodyError) = await JsonBody.ReadBytesAsync(context, "application/merge-patch+json", "application/json");
        if (bodyError is not null)
        {
            return bodyError.ToResult();
        }

        var now = time.GetUtcNow();
        string executionId;
        IReadOnlyList<MetricPointInput> points;
        IReadOnlyList<MetricAttributeRow> attributes;
        if (MetricPatchParser.TryParse(bytes.Span, now) is { } parsed)
        {
            (executionId, points, attributes) = (parsed.ExecutionId, parsed.Points, parsed.Attributes);
        }
        else
        {
            // Not the plain valid shape: deserialise and validate, which decides the 400 and its message.
            var body = JsonBody.Deserialize(bytes, AiApiJson.Default.MetricPatchRequest);
            if (!body.Ok)
            {
                return body.Error!.ToResult();
            }

            var (validPoints, validAttributes, invalid) = Validate(body.Value!, now);
            if (invalid is not null)
            {
                return invalid.ToResult();
            }

            (executionId, points, attributes) = (body.Value!.ExecutionId!, validPoints!, validAttributes!);
        }

        var scope = ResourceGroupScope.Of(context);
        if (context.User.FindFirst(JwtIssuer.ExecutionClaim)?.Value is { } ownExecution
            && (ownExecution != executionId || context.User.FindFirst(JwtIssuer.ResourceGroupClaim)?.Value != scope.Id))
        {
            return new ApiError(StatusCodes.Status403Forbidden, "Forbidden",
                $"This token belongs to execution '{ownExecution}' and may only log that execution's metrics, not those of '{executionId}' in '{scope.Id}'.").ToResult();
        }

        var stored = await metrics.AppendAsync(scope.Id, executionId, points, attributes, now.ToUnixTimeMilliseconds(), context.RequestAborted);
        return stored
            ? TypedResults.NoContent()
            : ApiError.NotFound("ExecutionNotFound", $"Execution '{executionId}' does not exist in resource group '{scope.Id}' (or is being deleted); nothing was stored.").ToResult();
    }

    public static async Task<Results<MetricListResult, ErrorResult>> FindAsync(HttpContext context, IMetricStore metrics)
    {
        var query = context.Request.Query;
        var (executionIds, idsError) = ExecutionIdsOf(query, "executionIds");
        var (filterIds, filterError) = FilterIds(query);
        var (tagFilters, tagError) = TagFilters(context.Request.QueryString.Value);
        var (select, selectError) = Select(query);
        var (top, topError) = Whole(query, "$top", 1000, 10_000);
        var (skip, skipError) = Whole(query, "$skip", 0, int.MaxValue);
        if ((idsError ?? filterError ?? tagError ?? selectError ?? topError ?? skipError) is { } error)
        {
            return error.ToResult();
        }

        if (executionIds is null && filterIds is null)
        {
            return Bad("Either executionIds or $filter is required: e.g. ?executionIds=<id>[,<id>…] (up to 10) or ?$filter=executionId eq '<id>'.").ToResult();
        }

        var ids = (executionIds ?? []).Concat(filterIds ?? []).Distinct(StringComparer.Ordinal).ToList();
        if (ids.Count > 10)
        {
            return Bad($"{ids.Count} execution ids were given; use up to 10 per query.").ToResult();
        }

        var scope = ResourceGroupScope.Of(context);
        var resources = await metrics.ListLiveAsync(scope.Id, ids, context.RequestAborted);
        var attributes = resources.Count == 0 ? [] : await metrics.ListAttributesAsync(resources.Select(r => r.Id).ToList(), context.RequestAborted);
        var attributesByResource = attributes.ToLookup(a => a.ResourceId);
        var matching = resources
            .Where(r => tagFilters.All(f => f.Matches(attributesByResource[r.Id].Where(a => a.Kind == MetricAttributeKinds.Tag))))
            .OrderBy(r => ids.IndexOf(r.ExecutionId))
            .Skip(skip)
            .Take(top)
            .ToList();
        return new MetricListResult(matching, attributesByResource, select, metrics);
    }

    /// <summary>
    /// The seed document's delete: hides the execution's metrics at once and reclaims them in the
    /// background, answering only when they are no longer readable.
    /// </summary>
    public static async Task<Results<JsonHttpResult<IdMessage>, ErrorResult>> DeleteAsync(HttpContext context, IMetricStore metrics, DeletionScheduler scheduler)
    {
        var query = context.Request.Query;
        var (single, singleError) = ExecutionIdsOf(query, "executionId");
        var (many, manyError) = ExecutionIdsOf(query, "executionIds");
        if ((singleError ?? manyError) is { } error)
        {
            return error.ToResult();
        }

        var ids = (single ?? []).Concat(many ?? []).Distinct(StringComparer.Ordinal).ToList();
        if (ids.Count == 0)
        {
            return Bad("executionId is required: DELETE /v2/lm/metrics?executionId=<id> (or executionIds=<id>[,<id>…]).").ToResult();
        }

        // Every resource in ONE scheduling transaction: a legal hold on any of them refuses the
        // whole request and nothing is deleted.
        var scope = ResourceGroupScope.Of(context);
        var resources = await metrics.ListLiveAsync(scope.Id, ids, context.RequestAborted);
        var results = await scheduler.ScheduleAllOrNoneAsync(MetricCascade.Kind, resources.Select(r => r.Id).ToList(), scope.Id, context.User.Actor(), context.RequestAborted);
        for (var i = 0; i < results.Count; i++)
        {
            if (results[i] is ScheduleResult.Held held)
            {
                return Executions.ExecutionCommands.LegalHold(held, MetricCascade.Kind, resources[i].Id).ToResult();
            }
        }

        var deleted = new List<string>();
        var jobs = new List<string>();
        for (var i = 0; i < results.Count; i++)
        {
            if (results[i] is ScheduleResult.Scheduled scheduled)
            {
                deleted.Add(resources[i].ExecutionId);
                jobs.Add(scheduled.JobId);
            }
        }

        if (deleted.Count == 0)
        {
            return new ApiError(StatusCodes.Status404NotFound, "NotFound", "Metrics was not found.")
            {
                Details = [new ApiErrorDetail("NotFound", "Empty result set.")],
            }.ToResult();
        }

        context.Response.Headers[ResourceGroupEndpoints.DeletionJobHeader] = string.Join(',', jobs);
        var id = string.Join(',', ids.Where(deleted.Contains));
        return TypedResults.Json(new IdMessage(id, "Metric Resource was successfully deleted"), AiApiJson.Default.IdMessage);
    }

    internal static (List<MetricPointInput>? Points, List<MetricAttributeRow>? Attributes, ApiError? Error) Validate(MetricPatchRequest request, DateTimeOffset now)
    {
        if (string.IsNullOrEmpty(request.ExecutionId) || !AiApiQuery.IsId(request.ExecutionId))
        {
            return Fail("executionId", $"executionId '{request.ExecutionId}' is missing or invalid: use 4 to 64 letters, digits, '_', '.' or '-'.");
        }

        var points = new List<MetricPointInput>(request.Metrics?.Count ?? 0);
        var metrics = request.Metrics ?? [];
        for (var i = 0; i < metrics.Count; i++)
        {
            var field = $"metrics[{i}]";
            if (metrics[i] is not { } metric)
            {
                return Fail(field, $"{field} must be an object with name and value.");
            }

            if (metric.Name is not { } name || !IsValidMetricName(name))
            {
                return Fail(field + ".name", $"{field}.name '{metric.Name}' is invalid: use 1 to 64 letters, digits, '_' or '-'.");
            }

            if (metric.Value is not { } value || !double.IsFinite(value))
            {
                return Fail(field + ".value", $"{field}.value is required and must be a finite number.");
            }

            var timestamp = now;
            if (metric.Timestamp is { } text && !DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out timestamp))
            {
                return Fail(field + ".timestamp", $"{field}.timestamp '{text}' is not an RFC 3339 date-time such as 2026-11-23T15:00:00Z.");
            }

            if (metric.Step is < 0)
            {
                return Fail(field + ".step", $"{field}.step is {metric.Step}; it must be an integer of 0 or more.");
            }

            string? labels = null;
            if (metric.Labels is { Count: > 0 } labelList)
            {
                for (var j = 0; j < labelList.Count; j++)
                {
                    var labelField = $"{field}.labels[{j}]";
                    if (NameValueError(labelList[j], labelField, 256) is { } labelError)
                    {
                        return Fail(labelField, labelError);
                    }

                    if (LabelError(labelList[j]!) is not null)
                    {
                        return Fail(labelField + ".name", $"{labelField}.name '{labelList[j]!.Name}' uses the reserved prefix '{ReservedLabelPrefix}'; only '{ArtifactLabel}' may be used.");
                    }
                }

                labels = SerializeLabels(labelList!);
            }

            points.Add(new MetricPointInput(name, value, timestamp.ToUnixTimeMilliseconds(), metric.Step ?? -1, labels));
        }

        var attributes = new List<MetricAttributeRow>();
        foreach (var (list, kind, field, maxValue) in new[] { (request.Tags, MetricAttributeKinds.Tag, "tags", 256), (request.CustomInfo, MetricAttributeKinds.CustomInfo, "customInfo", int.MaxValue) })
        {
            for (var i = 0; i < (list?.Count ?? 0); i++)
            {
                if (NameValueError(list![i], $"{field}[{i}]", maxValue) is { } attributeError)
                {
                    return Fail($"{field}[{i}]", attributeError);
                }

                attributes.Add(new MetricAttributeRow("", kind, list[i]!.Name!, list[i]!.Value!));
            }
        }

        return (points, attributes, null);

        static (List<MetricPointInput>?, List<MetricAttributeRow>?, ApiError?) Fail(string field, string message) =>
            (null, null, new ApiError(StatusCodes.Status400BadRequest, "InvalidMetrics", message) { Details = [new ApiErrorDetail("InvalidField", field)] });
    }

    /// <summary>A metric name as stored: 1 to 64 letters, digits, '_' or '-'.</summary>
    internal static bool IsValidMetricName(string name) => name is { Length: > 0 and <= 64 } && MetricName().IsMatch(name);

    /// <summary>Why a label cannot be stored (null when it can): a NameValue check with the 256-character bound, then the reserved prefix.</summary>
    internal static string? LabelError(NameValue label) =>
        NameValueError(label, "", 256)
        ?? (label.Name!.StartsWith(ReservedLabelPrefix, StringComparison.Ordinal) && label.Name != ArtifactLabel ? "reserved prefix" : null);

    /// <summary>A point's labels as stored: a JSON array of <c>{name, value}</c>.</summary>
    internal static string SerializeLabels(IReadOnlyList<NameValue?> labels) =>
        JsonSerializer.Serialize(labels.Select(l => new NameValue(l!.Name, l.Value)).ToList(), AiApiJson.Default.ListNameValue);

    internal static string? NameValueError(NameValue? item, string field, int maxValue)
    {
        if (item is null)
        {
            return $"{field} must be an object with name and value.";
        }

        if (item.Name is not { Length: > 0 and <= 256 })
        {
            return $"{field}.name must be 1 to 256 characters.";
        }

        if (item.Name.Contains('\0', StringComparison.Ordinal))
        {
            return $"{field}.name contains a NUL character (\\u0000), which cannot be stored; remove it.";
        }

        if (item.Value is not { Length: > 0 } value || value.Length > maxValue)
        {
            return $"{field}.value must be {(maxValue == int.MaxValue ? "a non-empty string" : $"1 to {maxValue} characters")}.";
        }

        // PostgreSQL text cannot hold NUL; refuse it on both providers so they agree.
        return value.Contains('\0', StringComparison.Ordinal)
            ? $"{field}.value contains a NUL character (\\u0000), which cannot be stored; remove it."
            : null;
    }

    private static (List<string>? Ids, ApiError? Error) ExecutionIdsOf(IQueryCollection query, string name)
    {
        if (!query.TryGetValue(name, out var raw))
        {
            return (null, null);
        }

        var ids = raw.SelectMany(v => (v ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        var bad = ids.FirstOrDefault(id => !AiApiQuery.IsId(id));
        return bad is not null
            ? (null, Bad($"{name} item '{bad}' is invalid: use 4 to 64 letters, digits, '_', '.' or '-'."))
            : ids.Count == 0 ? (null, Bad($"{name} is empty.")) : (ids, null);
    }

    /// <summary>The deprecated <c>$filter</c>: <c>executionId eq 'x'</c> or <c>executionId in ('a','b')</c>.</summary>
    private static (List<string>? Ids, ApiError? Error) FilterIds(IQueryCollection query)
    {
        if (!query.TryGetValue("$filter", out var raw))
        {
            return (null, null);
        }

        var match = FilterExpression().Match(raw.ToString());
        if (!match.Success)
        {
            return (null, Bad($"$filter '{raw}' is not supported: use executionId eq '<id>' or executionId in ('<id>','<id>') (only eq and in are allowed)."));
        }

        var ids = match.Groups["eq"].Success
            ? [match.Groups["eq"].Value]
            : match.Groups["in"].Captures.Select(c => c.Value).ToList();
        var bad = ids.FirstOrDefault(id => !AiApiQuery.IsId(id));
        return bad is null ? (ids, null) : (null, Bad($"$filter id '{bad}' is invalid: use 4 to 64 letters, digits, '_', '.' or '-'."));
    }

    /// <summary>
    /// <c>tagFilters</c>, split on commas before percent-decoding so that encoded commas, '=' and '!'
    /// inside names and values match literally.
    /// </summary>
    private static (List<TagFilter> Filters, ApiError? Error) TagFilters(string? rawQuery)
    {
        var filters = new List<TagFilter>();
        foreach (var pair in (rawQuery ?? "").TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals < 0 || Uri.UnescapeDataString(pair[..equals]) != "tagFilters")
            {
                continue;
            }

            var raw = pair[(equals + 1)..];
            if (raw.Length > 5000)
            {
                return ([], Bad($"tagFilters is {raw.Length} characters long; the limit is 5000."));
            }

            foreach (var expression in raw.Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                var text = expression.Replace('+', ' ');
                var notEquals = text.IndexOf("!=", StringComparison.Ordinal);
                var equalsAt = text.IndexOf('=', StringComparison.Ordinal);
                filters.Add(notEquals >= 0 && notEquals < equalsAt
                    ? new TagFilter(Uri.UnescapeDataString(text[..notEquals]), Uri.UnescapeDataString(text[(notEquals + 2)..]), Equal: false)
                    : equalsAt >= 0
                        ? new TagFilter(Uri.UnescapeDataString(text[..equalsAt]), Uri.UnescapeDataString(text[(equalsAt + 1)..]), Equal: true)
                        : new TagFilter(Uri.UnescapeDataString(text), null, Equal: true));
            }
        }

        if (filters.Count > 100)
        {
            return ([], Bad($"tagFilters has {filters.Count} expressions; up to 100 are supported."));
        }

        var empty = filters.FirstOrDefault(f => f.Name.Length == 0);
        return empty is null ? (filters, null) : ([], Bad("tagFilters has an expression without a tag name; use name=value, name!=value or name."));
    }

    private static ((bool Metrics, bool Tags, bool CustomInfo) Select, ApiError? Error) Select(IQueryCollection query)
    {
        if (!query.TryGetValue("$select", out var raw))
        {
            return ((true, true, true), null);
        }

        var items = raw.SelectMany(v => (v ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        var bad = items.FirstOrDefault(i => !SelectItems.Contains(i));
        if (bad is not null || items.Count == 0)
        {
            return ((false, false, false), Bad($"$select item '{bad}' is unknown; use metrics, tags, customInfo or *."));
        }

        var all = items.Contains("*");
        return ((all || items.Contains("metrics"), all || items.Contains("tags"), all || items.Contains("customInfo")), null);
    }

    private static (int Value, ApiError? Error) Whole(IQueryCollection query, string name, int fallback, int max)
    {
        if (!query.TryGetValue(name, out var raw))
        {
            return (fallback, null);
        }

        return int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value <= max
            ? (value, null)
            : (0, Bad($"{name} is '{raw}'; it must be a whole number from 0 to {max}."));
    }

    private static ApiError Bad(string message) => ApiError.BadRequest("InvalidQuery", message);

    [GeneratedRegex(@"^[\w-]{1,64}$")]
    private static partial Regex MetricName();

    [GeneratedRegex(@"^\s*executionId\s+(?:eq\s+'(?<eq>[^']*)'|in\s*\(\s*'(?<in>[^']*)'(?:\s*,\s*'(?<in>[^']*)')*\s*\))\s*$", RegexOptions.IgnoreCase)]
    private static partial Regex FilterExpression();

    private sealed record TagFilter(string Name, string? Value, bool Equal)
    {
        public bool Matches(IEnumerable<MetricAttributeRow> tags)
        {
            var found = tags.Any(t => t.Name == Name && (Value is null || t.Value == Value));
            return Equal ? found : !found;
        }
    }
}

public sealed record NameValue(string? Name, string? Value);

public sealed record MetricItem(string? Name, double? Value, string? Timestamp, long? Step, List<NameValue?>? Labels);

/// <summary><c>TrckMetricResource</c>.</summary>
public sealed record MetricPatchRequest(string? ExecutionId, List<MetricItem?>? Metrics, List<NameValue?>? Tags, List<NameValue?>? CustomInfo);

/// <summary>
/// <c>TrckGetMetricResourceList</c>, written straight to the response while the points stream in
/// from the store: an execution with a million points costs a reader and a small buffer, not a
/// million objects. Everything that can fail on input was checked before this runs.
/// </summary>
public sealed class MetricListResult(
    IReadOnlyList<MetricResourceRow> resources,
    ILookup<string, MetricAttributeRow> attributes,
    (bool Metrics, bool Tags, bool CustomInfo) select,
    IMetricStore metrics) : IResult
{
    private const int FlushEvery = 2_000;

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        var cancellationToken = httpContext.RequestAborted;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json; charset=utf-8";
        var writer = new Utf8JsonWriter(response.BodyWriter);
        writer.WriteStartObject();
        writer.WriteNumber("count", resources.Count);
        writer.WriteStartArray("resources");
        var time = new char[32];
        foreach (var resource in resources)
        {
            writer.WriteStartObject();
            writer.WriteString("executionId", resource.ExecutionId);
            writer.WriteString("createdAt", AiApiQuery.Time(resource.CreatedAt));
            writer.WriteString("modifiedAt", AiApiQuery.Time(resource.ModifiedAt));
            if (select.Metrics)
            {
                writer.WriteStartArray("metrics");
                var written = 0;
                await foreach (var point in metrics.StreamPointsAsync(resource.Id, cancellationToken))
                {
                    writer.WriteStartObject();
                    writer.WriteString("name", point.Name);
                    writer.WriteNumber("value", point.Value);
                    DateTimeOffset.FromUnixTimeMilliseconds(point.Ts).UtcDateTime.TryFormat(time, out var length, "yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
                    writer.WriteString("timestamp", time.AsSpan(0, length));
                    if (point.Step >= 0)
                    {
                        writer.WriteNumber("step", point.Step);
                    }

                    if (point.Labels is not null)
                    {
                        writer.WritePropertyName("labels");
                        writer.WriteRawValue(point.Labels, skipInputValidation: true);
                    }

                    writer.WriteEndObject();
                    if (++written % FlushEvery == 0)
                    {
                        writer.Flush();
                        await response.BodyWriter.FlushAsync(cancellationToken);
                    }
                }

                writer.WriteEndArray();
            }

            if (select.Tags)
            {
                WriteNameValues(writer, "tags", attributes[resource.Id], MetricAttributeKinds.Tag);
            }

            if (select.CustomInfo)
            {
                WriteNameValues(writer, "customInfo", attributes[resource.Id], MetricAttributeKinds.CustomInfo);
            }

            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
        writer.Flush();
        await writer.DisposeAsync();
        await response.BodyWriter.FlushAsync(cancellationToken);
    }

    private static void WriteNameValues(Utf8JsonWriter writer, string property, IEnumerable<MetricAttributeRow> attributes, string kind)
    {
        writer.WriteStartArray(property);
        foreach (var attribute in attributes.Where(a => a.Kind == kind))
        {
            writer.WriteStartObject();
            writer.WriteString("name", attribute.Name);
            writer.WriteString("value", attribute.Value);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
    }
}
