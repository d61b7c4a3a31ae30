using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Runledger.Server.Hosting;

namespace Runledger.Server.Auth;

/// <summary>Turns the framework's challenge/forbid into 401/403 bodies in the request's dialect.</summary>
internal sealed class DialectAuthorizationResultHandler : IAuthorizationMiddlewareResultHandler
{
    public async Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        if (authorizeResult.Challenged)
        {
            await ErrorWriter.WriteAsync(context, Unauthorized(context));
            return;
        }

        if (authorizeResult.Forbidden)
        {
            await ErrorWriter.WriteAsync(context, Forbidden(context, authorizeResult));
            return;
        }

        await next(context);
    }

    private static ApiError Unauthorized(HttpContext context)
    {
        var dialect = Dialects.Of(context.Request.Path);
        var reason = AuthFailure.Get(context);
        if (dialect == Dialect.LlmObs)
        {
            return new ApiError(StatusCodes.Status401Unauthorized, "Unauthorized", reason ?? "Authentication failed; send DD-API-KEY and DD-APPLICATION-KEY headers.")
            {
                Header = reason?.Contains(DatadogKeyHandler.AppKeyHeader, StringComparison.Ordinal) == true ? DatadogKeyHandler.AppKeyHeader : DatadogKeyHandler.ApiKeyHeader,
            };
        }

        context.Response.Headers.WWWAuthenticate = "Bearer";
        return new ApiError(
            StatusCodes.Status401Unauthorized,
            "Unauthorized",
            context.Request.Headers.Authorization.Count == 0
                ? "The Authorization header is missing; send 'Authorization: Bearer <token>' with a token from POST /oauth/token or an API token."
                : reason ?? "The Authorization header is not a valid bearer token; send 'Authorization: Bearer <token>'.")
        { Header = "Authorization" };
    }

    private static ApiError Forbidden(HttpContext context, PolicyAuthorizationResult result)
    {
        if (result.AuthorizationFailure?.FailedRequirements.OfType<NotExecutionTokenRequirement>().Any() == true)
        {
            var execution = context.User.FindFirst(JwtIssuer.ExecutionClaim)?.Value;
            return new ApiError(StatusCodes.Status403Forbidden, "Forbidden", $"This token belongs to execution '{execution}' and may only log that execution's metrics (PATCH /v2/lm/metrics).");
        }

        var needs = result.AuthorizationFailure?.FailedRequirements.OfType<ScopeRequirement>().Select(r => r.Scope).FirstOrDefault() ?? "more";
        return Dialects.Of(context.Request.Path) == Dialect.LlmObs
            ? new ApiError(StatusCodes.Status403Forbidden, "Forbidden", $"This application key does not have the '{needs}' scope this operation needs; use a key with '{needs}' scope.")
            {
                Header = DatadogKeyHandler.AppKeyHeader,
            }
            : new ApiError(StatusCodes.Status403Forbidden, "Forbidden", $"This credential does not have the '{needs}' scope this operation needs.");
    }
}

/// <summary>Requires a scope claim (see <see cref="AuthClaims.HasScope"/>); admin implies every scope.</summary>
internal sealed class ScopeRequirement(string scope) : AuthorizationHandler<ScopeRequirement>, IAuthorizationRequirement
{
    public string Scope { get; } = scope;

    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, ScopeRequirement requirement)
    {
        if (context.User.HasScope(requirement.Scope) || context.User.HasScope(AuthClaims.ScopeAdmin))
        {
            context.Succeed(requirement);
        }

        return Task.CompletedTask;
    }
}
