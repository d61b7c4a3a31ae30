using Microsoft.AspNetCore.Http.HttpResults;
using Runledger.Server.Hosting;
using Runledger.Server.Lifecycle;

namespace Runledger.Server.Admin;

/// <summary>
/// <c>POST /runledger/v1/deletions/preview</c>: what deleting one or more targets would remove, without
/// changing anything. A target that does not exist (or is already being deleted) is reported with
/// <c>found: false</c> rather than failing the whole request, so a list can be checked in one call.
/// </summary>
public static class PreviewEndpoints
{
    public const int MaxTargets = 100;

    public static RouteGroupBuilder MapPreview(this RouteGroupBuilder group)
    {
        group.MapPost("/deletions/preview", PreviewAsync);
        return group;
    }

    public static async Task<Results<JsonHttpResult<PreviewResponse>, ErrorResult>> PreviewAsync(HttpContext context, DeletionPreviewer previewer, CascadeRegistry registry)
    {
        var body = await JsonBody.ReadAsync(context, LifecycleAdminJson.Default.PreviewRequest, "application/json");
        if (!body.Ok)
        {
            return body.Error!.ToResult();
        }

        if (body.Value!.Targets is not { Count: > 0 and <= MaxTargets } targets)
        {
            return Invalid($"targets must list 1 to {MaxTargets} items of {{\"kind\", \"id\", \"scope\"}}.", "/targets").ToResult();
        }

        var parsed = new List<PreviewTarget>(targets.Count);
        for (var i = 0; i < targets.Count; i++)
        {
            var target = targets[i];
            if (target?.Kind is not { Length: > 0 } kind || !registry.IsKnown(kind))
            {
                return Invalid($"targets[{i}].kind '{target?.Kind}' is unknown; use one of {string.Join(", ", registry.KindNames)}.", $"/targets/{i}/kind").ToResult();
            }

            if (target.Id is not { Length: > 0 } id)
            {
                return Invalid($"targets[{i}].id is required.", $"/targets/{i}/id").ToResult();
            }

            // A resource group is its own scope; everything else lives in a resource group or an organisation.
            if ((target.Scope ?? (kind == "resource_group" ? id : null)) is not { Length: > 0 } scope)
            {
                return Invalid($"targets[{i}].scope is required for kind '{kind}': the resource group (AI API) or organisation (LLM Obs) the target lives in.", $"/targets/{i}/scope").ToResult();
            }

            parsed.Add(new PreviewTarget(kind, id, scope));
        }

        var results = new List<PreviewDto>(parsed.Count);
        foreach (var target in parsed)
        {
            results.Add(PreviewDto.From(await previewer.PreviewAsync(target, context.RequestAborted)));
        }

        return TypedResults.Json(new PreviewResponse(results), LifecycleAdminJson.Default.PreviewResponse);
    }

    private static ApiError Invalid(string message, string pointer) => ApiError.BadRequest("InvalidPreview", message) with { SourcePointer = pointer };
}

public sealed record PreviewTargetRequest(string? Kind, string? Id, string? Scope);

public sealed record PreviewRequest(List<PreviewTargetRequest?>? Targets);

public sealed record HoldDto(string Kind, string Id, string Scope, string Reason, string? HeldBy = null, DateTimeOffset? HeldAt = null);

/// <summary>
/// One target's dry-run. <c>rows</c> has the same keys as a job's <c>removed</c> (child names and the
/// kind itself); <c>samples</c> up to 10 keys per child; <c>heldBy</c> the hold that would refuse it.
/// </summary>
public sealed record PreviewDto(
    string Kind,
    string Id,
    string Scope,
    bool Found,
    Dictionary<string, long> Rows,
    Dictionary<string, List<string>> Samples,
    string Grace,
    long GraceSeconds,
    bool Restorable,
    HoldDto? Hold)
{
    public static PreviewDto From(PreviewResult result) => new(
        result.Target.Kind,
        result.Target.Id,
        result.Target.Scope,
        result.Found,
        result.Rows,
        result.Samples,
        result.Grace.ToString("c", System.Globalization.CultureInfo.InvariantCulture),
        (long)result.Grace.TotalSeconds,
        result.Restorable,
        result.Hold is { } hold ? new HoldDto(hold.Kind, hold.Id, hold.Scope, hold.Reason) : null);
}

public sealed record PreviewResponse(List<PreviewDto> Targets);
