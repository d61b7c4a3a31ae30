using Microsoft.AspNetCore.Http.HttpResults;
using Runledger.Server.Auth;
using Runledger.Server.Hosting;
using Runledger.Server.Lifecycle;
using Runledger.Storage.Lifecycle;

namespace Runledger.Server.Admin;

/// <summary>
/// Legal holds: <c>PUT /runledger/v1/holds/{kind}/{id}?scope=…</c> with <c>{"reason"}</c> sets (or replaces)
/// one, <c>DELETE</c> clears it, <c>GET /runledger/v1/holds</c> lists them. While held, deleting the target,
/// anything inside it or anything containing it is refused in every dialect.
/// </summary>
public static class HoldEndpoints
{
    public static RouteGroupBuilder MapHolds(this RouteGroupBuilder group)
    {
        group.MapGet("/holds", ListAsync);
        group.MapPut("/holds/{kind}/{id}", PutAsync);
        group.MapDelete("/holds/{kind}/{id}", DeleteAsync);
        return group;
    }

    public static async Task<JsonHttpResult<HoldList>> ListAsync(IHoldStore holds, CancellationToken cancellationToken) =>
        TypedResults.Json(new HoldList((await holds.ListAsync(cancellationToken)).Select(Dto).ToList()), LifecycleAdminJson.Default.HoldList);

    public static async Task<Results<JsonHttpResult<HoldDto>, ErrorResult>> PutAsync(string kind, string id, string? scope, HttpContext context, LegalHolds holds)
    {
        var body = await JsonBody.ReadAsync(context, LifecycleAdminJson.Default.HoldRequest, "application/json");
        if (!body.Ok)
        {
            return body.Error!.ToResult();
        }

        if (string.IsNullOrWhiteSpace(body.Value!.Reason) || body.Value.Reason.Length > 1000)
        {
            return (ApiError.BadRequest("InvalidHold", "reason is required (1 to 1000 characters): say why the data must be kept, e.g. a case number.") with { SourcePointer = "/reason" }).ToResult();
        }

        scope ??= kind == "resource_group" ? id : null;
        if (string.IsNullOrEmpty(scope))
        {
            return (ApiError.BadRequest("InvalidHold", $"scope is required for kind '{kind}': the resource group (AI API) or organisation (LLM Obs) the target lives in.") with { Parameter = "scope" }).ToResult();
        }

        var result = await holds.SetAsync(kind, id, scope, body.Value.Reason, context.User.Actor(), context.RequestAborted);
        return result switch
        {
            HoldResult.Placed placed => TypedResults.Json(Dto(placed.Hold), LifecycleAdminJson.Default.HoldDto, statusCode: placed.Created ? StatusCodes.Status201Created : StatusCodes.Status200OK),
            HoldResult.NotHoldable notHoldable => ApiError.BadRequest("NotHoldable", notHoldable.Message).ToResult(),
            _ => ApiError.NotFound("TargetNotFound", $"There is no {kind} '{id}' in scope '{scope}' (or it is being deleted).").ToResult(),
        };
    }

    public static async Task<Results<NoContent, ErrorResult>> DeleteAsync(string kind, string id, HttpContext context, LegalHolds holds) =>
        await holds.ClearAsync(kind, id, context.User.Actor(), context.RequestAborted) is null
            ? ApiError.NotFound("HoldNotFound", $"There is no legal hold on {kind} '{id}'.").ToResult()
            : TypedResults.NoContent();

    private static HoldDto Dto(HoldRow row) =>
        new(row.Kind, row.TargetId, row.Scope, row.Reason, row.HeldBy, DateTimeOffset.FromUnixTimeMilliseconds(row.HeldAt));
}

public sealed record HoldRequest(string? Reason);

public sealed record HoldList(List<HoldDto> Holds);
