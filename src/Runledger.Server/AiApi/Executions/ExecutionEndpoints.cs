using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Runledger.Server.AiApi.ResourceGroups;
using Runledger.Server.Auth;
using Runledger.Server.Hosting;
using Runledger.Server.Runner;
using Runledger.Storage.Executions;

namespace Runledger.Server.AiApi.Executions;

/// <summary><c>/v2/lm/executions…</c>: create, query, stop, delete (single and bulk), logs.</summary>
public static class ExecutionEndpoints
{
    public static RouteGroupBuilder MapExecutions(this RouteGroupBuilder group)
    {
        group.MapPost("/executions", CreateAsync);
        group.MapGet("/executions", ListAsync);
        group.MapPatch("/executions", BulkModifyAsync);
        group.MapGet("/executions/$count", CountAsync);
        group.MapGet("/executions/{executionId}", GetAsync);
        group.MapPatch("/executions/{executionId}", ModifyAsync);
        group.MapDelete("/executions/{executionId}", DeleteAsync);
        return group;
    }

    /// <summary>Logs declare no <c>AI-Resource-Group</c> in the spec: the header is optional here (default <c>default</c>).</summary>
    public static RouteGroupBuilder MapExecutionLogs(this RouteGroupBuilder group)
    {
        group.MapGet("/executions/{executionId}/logs", LogsAsync);
        return group;
    }

    public static async Task<Results<JsonHttpResult<ExecutionCreated>, ErrorResult>> CreateAsync(
        HttpContext context, IConfigurationStore configurations, IExecutionStore executions, TemplateCatalog templates, RunnerSignal signal, TimeProvider time)
    {
        var body = await JsonBody.ReadAsync(context, AiApiJson.Default.ExecutionCreateRequest, "application/json");
        if (!body.Ok)
        {
            return body.Error!.ToResult();
        }

        var configurationId = body.Value!.ConfigurationId;
        if (string.IsNullOrEmpty(configurationId) || !AiApiQuery.IsId(configurationId))
        {
            return ApiError.BadRequest("InvalidExecution", $"configurationId '{configurationId}' is missing or invalid: use 4 to 64 letters, digits, '_', '.' or '-'.").ToResult();
        }

        var scope = ResourceGroupScope.Of(context);
        var configuration = await configurations.GetAsync(scope.Id, configurationId, context.RequestAborted);
        if (configuration is null)
        {
            return ApiError.BadRequest("UnknownConfiguration", $"Configuration '{configurationId}' does not exist in resource group '{scope.Id}'.").ToResult();
        }

        if (!templates.Current.Executables.ContainsKey(configuration.ExecutableId))
        {
            return ApiError.BadRequest("UnknownExecutable", $"Configuration '{configurationId}' uses executable '{configuration.ExecutableId}', which is no longer in the templates folder.").ToResult();
        }

        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        await executions.InsertAsync(new ExecutionRow
        {
            Id = id,
            ResourceGroup = scope.Id,
            ConfigurationId = configuration.Id,
            ConfigurationName = configuration.Name,
            ScenarioId = configuration.ScenarioId,
            ExecutableId = configuration.ExecutableId,
            TargetStatus = "COMPLETED",
            Status = ExecutionStatus.Pending,
            StatusMessage = "Scheduled",
            CreatedAt = now,
            ModifiedAt = now,
            SubmissionTime = now,
        }, context.RequestAborted);
        signal.Notify();
        context.Response.Headers.Location = $"{context.Request.PathBase}/v2/lm/executions/{id}";
        return TypedResults.Json(new ExecutionCreated(id, "Execution scheduled", ExecutionStatus.Pending), AiApiJson.Default.ExecutionCreated, statusCode: StatusCodes.Status202Accepted);
    }

    public static async Task<Results<JsonHttpResult<ExecutionList>, JsonHttpResult<JsonObject>, ErrorResult>> ListAsync(HttpContext context, IExecutionStore executions)
    {
        var (query, selectStatus, error) = ParseQuery(context, paging: true);
        if (error is not null)
        {
            return error.ToResult();
        }

        var rows = await executions.ListAsync(query!, context.RequestAborted);
        if (selectStatus)
        {
            var resources = new JsonArray(rows.Select(r => (JsonNode)new JsonObject { ["id"] = r.Id, ["status"] = r.Status }).ToArray());
            return TypedResults.Json(new JsonObject { ["count"] = rows.Count, ["resources"] = resources }, AiApiJson.Default.JsonObject);
        }

        var list = rows.Select(r => ExecutionDto.From(r, details: false)).ToList();
        return TypedResults.Json(new ExecutionList(list.Count, list), AiApiJson.Default.ExecutionList);
    }

    public static async Task<Results<ContentHttpResult, ErrorResult>> CountAsync(HttpContext context, IExecutionStore executions)
    {
        var (query, _, error) = ParseQuery(context, paging: false);
        if (error is not null)
        {
            return error.ToResult();
        }

        var count = await executions.CountAsync(query!, context.RequestAborted);
        return TypedResults.Text(count.ToString(CultureInfo.InvariantCulture), "text/plain");
    }

    public static async Task<Results<JsonHttpResult<ExecutionDto>, JsonHttpResult<JsonObject>, ErrorResult>> GetAsync(string executionId, HttpContext context, IExecutionStore executions)
    {
        if (!AiApiQuery.IsId(executionId))
        {
            return InvalidId(executionId).ToResult();
        }

        var (selectStatus, selectError) = Select(context.Request.Query);
        if (selectError is not null)
        {
            return selectError.ToResult();
        }

        var scope = ResourceGroupScope.Of(context);
        var row = await executions.GetAsync(scope.Id, executionId, context.RequestAborted);
        if (row is null)
        {
            return ExecutionCommands.NotFound(scope.Id, executionId).ToResult();
        }

        return selectStatus
            ? TypedResults.Json(new JsonObject { ["id"] = row.Id, ["status"] = row.Status }, AiApiJson.Default.JsonObject)
            : TypedResults.Json(ExecutionDto.From(row, details: true), AiApiJson.Default.ExecutionDto);
    }

    public static async Task<Results<JsonHttpResult<IdMessage>, ErrorResult>> ModifyAsync(string executionId, HttpContext context, ExecutionCommands commands)
    {
        if (!AiApiQuery.IsId(executionId))
        {
            return InvalidId(executionId).ToResult();
        }

        var body = await JsonBody.ReadAsync(context, AiApiJson.Default.ExecutionModifyRequest, "application/json", "application/merge-patch+json");
        if (!body.Ok)
        {
            return body.Error!.ToResult();
        }

        if (body.Value!.TargetStatus != "STOPPED")
        {
            return ApiError.BadRequest("InvalidTargetStatus", $"targetStatus '{body.Value.TargetStatus}' is not supported here; the only value is STOPPED (delete with DELETE /v2/lm/executions/{executionId}).").ToResult();
        }

        var outcome = await commands.StopAsync(ResourceGroupScope.Of(context).Id, executionId, context.RequestAborted);
        return outcome.Error is { } error
            ? error.ToResult()
            : TypedResults.Json(new IdMessage(executionId, "Execution modification scheduled"), AiApiJson.Default.IdMessage, statusCode: StatusCodes.Status202Accepted);
    }

    public static async Task<Results<JsonHttpResult<ExecutionDeleted>, ErrorResult>> DeleteAsync(string executionId, HttpContext context, ExecutionCommands commands)
    {
        if (!AiApiQuery.IsId(executionId))
        {
            return InvalidId(executionId).ToResult();
        }

        var outcome = await commands.DeleteAsync(ResourceGroupScope.Of(context).Id, executionId, context.User.Actor(), context.RequestAborted);
        if (outcome.Error is { } error)
        {
            return error.ToResult();
        }

        context.Response.Headers[ResourceGroupEndpoints.DeletionJobHeader] = outcome.JobId;
        return TypedResults.Json(new ExecutionDeleted(executionId, "Deletion scheduled", "DELETED"), AiApiJson.Default.ExecutionDeleted, statusCode: StatusCodes.Status202Accepted);
    }

    public static async Task<Results<JsonHttpResult<BulkResponse>, ErrorResult>> BulkModifyAsync(HttpContext context, ExecutionCommands commands, IOptions<RunnerOptions> options)
    {
        if (!options.Value.BulkUpdates)
        {
            return ApiError.BadRequest("BulkUpdatesDisabled", "Bulk updates of executions are disabled on this server (Runner:BulkUpdates=false; /v2/lm/meta reports bulkUpdates.executions=false); PATCH or DELETE each execution instead.").ToResult();
        }

        var body = await JsonBody.ReadAsync(context, AiApiJson.Default.BulkRequest, "application/merge-patch+json", "application/json");
        if (!body.Ok)
        {
            return body.Error!.ToResult();
        }

        if (ValidateBulk(body.Value!) is { } invalid)
        {
            return invalid.ToResult();
        }

        // Stops one by one (each a single guarded UPDATE); all deletes in one scheduling transaction.
        var scope = ResourceGroupScope.Of(context);
        var items = body.Value!.Executions!.Select(i => i!).ToList();
        var outcomes = new CommandOutcome[items.Count];
        for (var i = 0; i < items.Count; i++)
        {
            if (items[i].TargetStatus == "STOPPED")
            {
                outcomes[i] = await commands.StopAsync(scope.Id, items[i].Id!, context.RequestAborted);
            }
        }

        var deletes = Enumerable.Range(0, items.Count).Where(i => items[i].TargetStatus == "DELETED").ToList();
        var deleted = await commands.DeleteManyAsync(scope.Id, deletes.Select(i => items[i].Id!).ToList(), context.User.Actor(), context.RequestAborted);
        for (var d = 0; d < deletes.Count; d++)
        {
            outcomes[deletes[d]] = deleted[d];
        }

        var results = items.Select((item, i) => outcomes[i].Error is { } error
            ? new BulkResult(item.Id!, null, new BulkError(error.Code, error.Message))
            : new BulkResult(item.Id!, "Execution modification scheduled", null)).ToList();
        var jobs = outcomes.Where(o => o.JobId is not null).Select(o => o.JobId!).ToList();
        if (jobs.Count > 0)
        {
            context.Response.Headers[ResourceGroupEndpoints.DeletionJobHeader] = string.Join(',', jobs);
        }

        return TypedResults.Json(new BulkResponse(results), AiApiJson.Default.BulkResponse, statusCode: StatusCodes.Status202Accepted);
    }

    public static async Task<Results<JsonHttpResult<LogResponse>, ErrorResult>> LogsAsync(string executionId, HttpContext context, IExecutionStore executions)
    {
        if (!AiApiQuery.IsId(executionId))
        {
            return InvalidId(executionId).ToResult();
        }

        var query = context.Request.Query;
        var top = 1000;
        if (query.TryGetValue("$top", out var rawTop) && (!int.TryParse(rawTop, NumberStyles.None, CultureInfo.InvariantCulture, out top) || top is < 1 or > 5000))
        {
            return AiApiQuery.Invalid($"$top is '{rawTop}'; it must be a whole number from 1 to 5000.").ToResult();
        }

        long? start = null;
        long? end = null;
        foreach (var (name, set) in new (string, Action<long>)[] { ("start", v => start = v), ("end", v => end = v) })
        {
            if (query.TryGetValue(name, out var raw))
            {
                if (!DateTimeOffset.TryParse(raw, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
                {
                    return AiApiQuery.Invalid($"{name} is '{raw}'; use an RFC 3339 date-time such as 2026-11-23T15:00:00Z.").ToResult();
                }

                set(parsed.ToUnixTimeMilliseconds());
            }
        }

        var order = query.TryGetValue("$order", out var rawOrder) ? rawOrder.ToString() : "asc";
        if (order is not ("asc" or "desc"))
        {
            return AiApiQuery.Invalid($"$order is '{order}'; use asc or desc.").ToResult();
        }

        var scope = ResourceGroupScope.Of(context);
        var execution = await executions.GetAsync(scope.Id, executionId, context.RequestAborted);
        if (execution is null || execution.DeletingJobId is not null)
        {
            return ExecutionCommands.NotFound(scope.Id, executionId).ToResult();
        }

        var lines = await executions.ListLogsAsync(new LogQuery(scope.Id, executionId, top, start, end, order == "desc"), context.RequestAborted);
        return TypedResults.Json(new LogResponse(new LogData(lines.Select(l => new LogItem(AiApiQuery.Time(l.Ts), l.Msg)).ToList())), AiApiJson.Default.LogResponse);
    }

    private static ApiError? ValidateBulk(BulkRequest request)
    {
        if (request.Executions is not { Count: > 0 } items)
        {
            return ApiError.BadRequest("InvalidBulkRequest", "executions must list 1 to 100 items of {\"id\", \"targetStatus\"}.");
        }

        if (items.Count > 100)
        {
            return ApiError.BadRequest("InvalidBulkRequest", $"executions has {items.Count} items; at most 100 may be changed in one request.");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < items.Count; i++)
        {
            var item = items[i];
            if (item?.Id is not { } id || !AiApiQuery.IsId(id))
            {
                return ApiError.BadRequest("InvalidBulkRequest", $"executions[{i}].id '{item?.Id}' is missing or invalid: use 4 to 64 letters, digits, '_', '.' or '-'.");
            }

            if (item.TargetStatus is not ("STOPPED" or "DELETED"))
            {
                return ApiError.BadRequest("InvalidBulkRequest", $"executions[{i}].targetStatus '{item.TargetStatus}' is not supported; use STOPPED or DELETED.");
            }

            if (!seen.Add(id))
            {
                return ApiError.BadRequest("InvalidBulkRequest", $"executions[{i}].id '{id}' appears more than once; each execution may appear once per request (send another request for a second change).");
            }
        }

        return null;
    }

    private static (ExecutionQuery? Query, bool SelectStatus, ApiError? Error) ParseQuery(HttpContext context, bool paging)
    {
        var query = context.Request.Query;
        var (top, skip, pagingError) = paging ? AiApiQuery.Paging(query) : (int.MaxValue, 0, null);
        var (executableIds, executablesError) = AiApiQuery.ExecutableIds(query);
        var (configurationId, configurationError) = AiApiQuery.OptionalId(query, "configurationId");
        var (scenarioId, scenarioError) = AiApiQuery.OptionalId(query, "scenarioId");
        var (_, scheduleError) = AiApiQuery.OptionalId(query, "executionScheduleId");
        var (selectStatus, selectError) = paging ? Select(query) : (false, null);
        if ((pagingError ?? executablesError ?? configurationError ?? scenarioError ?? scheduleError ?? selectError) is { } error)
        {
            return (null, false, error);
        }

        string? status = null;
        if (query.TryGetValue("status", out var rawStatus))
        {
            status = rawStatus.ToString();
            if (!ExecutionStatus.All.Contains(status))
            {
                return (null, false, AiApiQuery.Invalid($"status '{status}' is unknown; use one of {string.Join(", ", ExecutionStatus.All)}."));
            }
        }

        // Executions are never created from schedules here (executionSchedules: false), so a schedule filter matches nothing.
        var nothing = query.ContainsKey("executionScheduleId");
        return (new ExecutionQuery(ResourceGroupScope.Of(context).Id, executableIds, configurationId, scenarioId, status, nothing ? 0 : top, skip, MatchesNothing: nothing), selectStatus, null);
    }

    private static (bool SelectStatus, ApiError? Error) Select(IQueryCollection query)
    {
        if (!query.TryGetValue("$select", out var raw))
        {
            return (false, null);
        }

        return raw == "status" ? (true, null) : (false, AiApiQuery.Invalid($"$select is '{raw}'; the only value is 'status'."));
    }

    private static ApiError InvalidId(string id) =>
        ApiError.BadRequest("InvalidParameter", $"executionId '{id}' is invalid: use 4 to 64 letters, digits, '_', '.' or '-'.");
}

/// <summary><c>AiEnactmentCreationRequest</c>.</summary>
public sealed record ExecutionCreateRequest(string? ConfigurationId);

/// <summary><c>AiExecutionCreationResponse</c>.</summary>
public sealed record ExecutionCreated(string Id, string Message, string Status);

/// <summary><c>AiExecutionModificationRequest</c>.</summary>
public sealed record ExecutionModifyRequest(string? TargetStatus);

/// <summary>The live service's answer: <c>AiExecutionDeletionResponse</c> plus <c>targetStatus</c>.</summary>
public sealed record ExecutionDeleted(string Id, string Message, string TargetStatus);

public sealed record BulkItem(string? Id, string? TargetStatus);

/// <summary><c>AiExecutionBulkModificationRequest</c>.</summary>
public sealed record BulkRequest(List<BulkItem?>? Executions);

public sealed record BulkError(string Code, string Message);

/// <summary>One item of <c>AiExecutionModificationResponseList</c>: <c>{id, message}</c> or <c>{id, error}</c>.</summary>
public sealed record BulkResult(string Id, string? Message, BulkError? Error);

public sealed record BulkResponse(List<BulkResult> Executions);

public sealed record LogItem(string Timestamp, string Msg);

public sealed record LogData(List<LogItem> Result);

/// <summary><c>RTALogCommonResponse</c>.</summary>
public sealed record LogResponse(LogData Data);

/// <summary><c>AiExecution</c> / <c>AiExecutionResponseWithDetails</c>.</summary>
public sealed record ExecutionDto(
    string Id,
    string ConfigurationId,
    string? ConfigurationName,
    string? ExecutableId,
    string? ScenarioId,
    string TargetStatus,
    string Status,
    string? StatusMessage,
    List<object> OutputArtifacts,
    string CreatedAt,
    string ModifiedAt,
    string? SubmissionTime,
    string? StartTime,
    string? CompletionTime,
    JsonObject? StatusDetails)
{
    public static ExecutionDto From(ExecutionRow row, bool details) => new(
        row.Id,
        row.ConfigurationId,
        row.ConfigurationName,
        row.ExecutableId,
        row.ScenarioId,
        row.DeletingJobId is null ? row.TargetStatus : "DELETED",
        row.Status,
        row.StatusMessage,
        [],
        AiApiQuery.Time(row.CreatedAt),
        AiApiQuery.Time(row.ModifiedAt),
        AiApiQuery.Time(row.SubmissionTime),
        AiApiQuery.Time(row.StartTime),
        AiApiQuery.Time(row.CompletionTime),
        details ? (row.StatusDetails is { } json ? JsonNode.Parse(json) as JsonObject : new JsonObject()) : null);
}

public sealed record ExecutionList(int Count, List<ExecutionDto> Resources);
