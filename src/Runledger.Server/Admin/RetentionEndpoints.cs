using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Runledger.Server.Auth;
using Runledger.Server.Hosting;
using Runledger.Server.Lifecycle;
using Runledger.Storage;
using Runledger.Storage.Lifecycle;

namespace Runledger.Server.Admin;

/// <summary>
/// Retention policies per scope: <c>GET /runledger/v1/retention</c> (policies set and policies available),
/// <c>PUT|DELETE /runledger/v1/retention/{scopeKind}/{scopeId}/{policy}</c> with <c>{"days"}</c>, and
/// <c>POST /runledger/v1/retention/run?dryRun=true|false</c> to evaluate them now.
/// </summary>
public static class RetentionEndpoints
{
    public static RouteGroupBuilder MapRetention(this RouteGroupBuilder group)
    {
        group.MapGet("/retention", ListAsync);
        group.MapPut("/retention/{scopeKind}/{scopeId}/{policy}", PutAsync);
        group.MapDelete("/retention/{scopeKind}/{scopeId}/{policy}", DeleteAsync);
        group.MapPost("/retention/run", RunAsync);
        return group;
    }

    public static async Task<JsonHttpResult<RetentionList>> ListAsync(string? scopeKind, string? scopeId, IRetentionPolicyStore store, CascadeRegistry registry, CancellationToken cancellationToken)
    {
        var rows = await store.ListAsync(scopeKind, scopeId, cancellationToken);
        var available = registry.RetentionPolicies.Select(p => new RetentionPolicyInfo(p.ScopeKind, p.Name, p.Kind, p.Description)).ToList();
        return TypedResults.Json(new RetentionList(rows.Select(Dto).ToList(), available), LifecycleAdminJson.Default.RetentionList);
    }

    public static async Task<Results<JsonHttpResult<RetentionPolicyDto>, ErrorResult>> PutAsync(
        string scopeKind, string scopeId, string policy, string? scope, HttpContext context, CascadeRegistry registry, IDatabase database, IRetentionPolicyStore store, TimeProvider time)
    {
        var body = await JsonBody.ReadAsync(context, LifecycleAdminJson.Default.RetentionRequest, "application/json");
        if (!body.Ok)
        {
            return body.Error!.ToResult();
        }

        if (registry.RetentionPolicy(scopeKind, policy) is null)
        {
            var known = string.Join(", ", registry.RetentionPolicies.Select(p => $"{p.ScopeKind}/{p.Name}"));
            return ApiError.BadRequest("UnknownPolicy", $"There is no retention policy '{policy}' for '{scopeKind}'; available: {known}.").ToResult();
        }

        if (body.Value!.Days is not { } days || days is < 1 or > 36_500)
        {
            return (ApiError.BadRequest("InvalidPolicy", "days must be a whole number from 1 to 36500.") with { SourcePointer = "/days" }).ToResult();
        }

        // The scope must exist now; a policy on a missing scope would silently never apply.
        if (registry.Kind(scopeKind).ExistsSql is { } exists)
        {
            await using var connection = await database.OpenAsync(context.RequestAborted);
            if (await connection.ExecuteScalarAsync<long>(new CommandDefinition(exists, new { TargetId = scopeId, Scope = scope ?? scopeId }, cancellationToken: context.RequestAborted)) == 0)
            {
                return ApiError.NotFound("ScopeNotFound", $"There is no {scopeKind} '{scopeId}' (or it is being deleted).").ToResult();
            }
        }

        var row = new RetentionPolicyRow
        {
            ScopeKind = scopeKind,
            ScopeId = scopeId,
            Policy = policy,
            Days = days,
            UpdatedBy = context.User.Actor(),
            UpdatedAt = time.GetUtcNow().ToUnixTimeMilliseconds(),
        };
        var created = await store.PutAsync(row, context.RequestAborted);
        return TypedResults.Json(Dto(row), LifecycleAdminJson.Default.RetentionPolicyDto, statusCode: created ? StatusCodes.Status201Created : StatusCodes.Status200OK);
    }

    public static async Task<Results<NoContent, ErrorResult>> DeleteAsync(string scopeKind, string scopeId, string policy, HttpContext context, IRetentionPolicyStore store, TimeProvider time) =>
        await store.DeleteAsync(scopeKind, scopeId, policy, context.User.Actor(), time.GetUtcNow().ToUnixTimeMilliseconds(), context.RequestAborted)
            ? TypedResults.NoContent()
            : ApiError.NotFound("PolicyNotFound", $"There is no retention policy '{policy}' on {scopeKind} '{scopeId}'.").ToResult();

    public static async Task<Results<JsonHttpResult<RetentionRunDto>, ErrorResult>> RunAsync(string? dryRun, RetentionRunner runner, CancellationToken cancellationToken)
    {
        if (dryRun is not (null or "true" or "false"))
        {
            return (ApiError.BadRequest("InvalidParameter", $"dryRun is '{dryRun}'; use true or false.") with { Parameter = "dryRun" }).ToResult();
        }

        var run = await runner.RunAsync(dryRun == "true", cancellationToken);
        return TypedResults.Json(RetentionRunDto.From(run), LifecycleAdminJson.Default.RetentionRunDto);
    }

    private static RetentionPolicyDto Dto(RetentionPolicyRow row) =>
        new(row.ScopeKind, row.ScopeId, row.Policy, row.Days, row.UpdatedBy, DateTimeOffset.FromUnixTimeMilliseconds(row.UpdatedAt));
}

public sealed record RetentionRequest(long? Days);

public sealed record RetentionPolicyDto(string ScopeKind, string ScopeId, string Policy, long Days, string UpdatedBy, DateTimeOffset UpdatedAt);

public sealed record RetentionPolicyInfo(string ScopeKind, string Policy, string Kind, string Description);

public sealed record RetentionList(List<RetentionPolicyDto> Policies, List<RetentionPolicyInfo> Available);

public sealed record RetentionTargetDto(string Kind, string Id, string Scope);

public sealed record RetentionOutcomeDto(string ScopeKind, string ScopeId, string Policy, long Days, DateTimeOffset Cutoff, List<RetentionTargetDto> Targets, List<string> Jobs, List<string> Refused);

public sealed record RetentionRunDto(string RunId, bool DryRun, DateTimeOffset At, List<RetentionOutcomeDto> Results)
{
    public static RetentionRunDto From(RetentionRun run) => new(
        run.RunId,
        run.DryRun,
        DateTimeOffset.FromUnixTimeMilliseconds(run.At),
        run.Outcomes.Select(o => new RetentionOutcomeDto(
            o.Policy.ScopeKind,
            o.Policy.ScopeId,
            o.Policy.Policy,
            o.Policy.Days,
            DateTimeOffset.FromUnixTimeMilliseconds(o.Cutoff),
            o.Targets.Select(t => new RetentionTargetDto(o.Kind, t.Id, t.Scope)).ToList(),
            o.Jobs.ToList(),
            o.Refused.ToList())).ToList());
}
