using System.Security.Claims;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Runledger.Server.Auth;
using Runledger.Server.Hosting;
using Runledger.Storage.Credentials;

namespace Runledger.Server.WebConsole;

/// <summary>The console's cookie scheme, its policies and the claims a session carries.</summary>
public static class ConsoleAuth
{
    public const string Scheme = "Console";
    public const string CsrfHeader = "X-CSRF-TOKEN";

    public const string User = "console-user";
    public const string Runs = "console-runs";
    public const string Admin = "console-admin";
    public const string LlmRead = "console-llm-read";
    public const string LlmWrite = "console-llm-write";

    /// <summary>Which parts of the console a session may use: AI API credentials see runs, Datadog keys (and admins) LLM Obs.</summary>
    public const string AreaClaim = "rl_console";
    public const string AreaRuns = "runs";
    public const string AreaLlm = "llm";
    public const string NameClaim = "rl_name";

    internal sealed class ConfigureCookie(TimeProvider time) : IConfigureNamedOptions<CookieAuthenticationOptions>
    {
        public void Configure(string? name, CookieAuthenticationOptions options)
        {
            if (name != Scheme)
            {
                return;
            }

            options.Cookie.Name = "rl_console";
            options.Cookie.Path = "/ui";
            options.Cookie.HttpOnly = true;
            options.Cookie.SameSite = SameSiteMode.Strict;
            options.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            options.ExpireTimeSpan = TimeSpan.FromHours(8);
            options.SlidingExpiration = true;
            options.TimeProvider = time;
            options.Events = new CookieAuthenticationEvents
            {
                // A revoked credential ends its console sessions on the next request, as it does for the APIs.
                OnValidatePrincipal = async context =>
                {
                    var id = context.Principal?.FindFirst(AuthClaims.CredentialId)?.Value;
                    var store = context.HttpContext.RequestServices.GetRequiredService<ICredentialStore>();
                    if (id is null || await store.GetAsync(id, context.HttpContext.RequestAborted) is not { RevokedAt: null })
                    {
                        AuthFailure.Set(context.HttpContext, "The credential of this console session has been revoked; sign in again.");
                        context.RejectPrincipal();
                        await context.HttpContext.SignOutAsync(Scheme);
                    }
                },
                OnRedirectToLogin = context =>
                {
                    context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                    return Task.CompletedTask;
                },
                OnRedirectToAccessDenied = context =>
                {
                    context.Response.StatusCode = StatusCodes.Status403Forbidden;
                    return Task.CompletedTask;
                },
            };
        }

        public void Configure(CookieAuthenticationOptions options) => Configure(Options.DefaultName, options);
    }
}

/// <summary><c>/ui/api/session</c>: who is signed in (and the antiforgery token), sign in with a credential, sign out.</summary>
public static class ConsoleSessionEndpoints
{
    public static RouteGroupBuilder MapConsoleSession(this RouteGroupBuilder api)
    {
        api.MapGet("/session", GetAsync);
        api.MapPost("/session", SignInAsync);
        api.MapDelete("/session", (Delegate)SignOutAsync);
        return api;
    }

    public static async Task<JsonHttpResult<SessionDto>> GetAsync(HttpContext context, IAntiforgery antiforgery)
    {
        var result = await context.AuthenticateAsync(ConsoleAuth.Scheme);
        if (result.Succeeded)
        {
            context.User = result.Principal;
        }

        return TypedResults.Json(SessionDto.Of(context, antiforgery), ConsoleJson.Default.SessionDto);
    }

    /// <summary>
    /// Accepts an AI API bearer token (static or created with POST /runledger/v1/credentials) or a
    /// Datadog application key; the session carries the credential's id, organisation and scopes.
    /// </summary>
    public static async Task<Results<JsonHttpResult<SessionDto>, ErrorResult>> SignInAsync(HttpContext context, ICredentialStore credentials, IAntiforgery antiforgery)
    {
        var body = await JsonBody.ReadAsync(context, ConsoleJson.Default.SignInRequest, "application/json");
        if (!body.Ok)
        {
            return body.Error!.ToResult();
        }

        var secret = body.Value!.Credential?.Trim();
        if (string.IsNullOrEmpty(secret))
        {
            return ApiError.BadRequest("CredentialRequired", "Paste an admin or API bearer token, or a Datadog application key.").ToResult();
        }

        var hash = Secrets.LookupHash(secret);
        var credential = await credentials.FindByLookupHashAsync(CredentialKinds.BearerToken, hash, context.RequestAborted)
            ?? await credentials.FindByLookupHashAsync(CredentialKinds.DatadogAppKey, hash, context.RequestAborted);
        if (credential is null)
        {
            return new ApiError(StatusCodes.Status401Unauthorized, "CredentialUnknown",
                "This credential is not known or has been revoked; check that you pasted the whole token or key.").ToResult();
        }

        var principal = AuthClaims.Principal(ConsoleAuth.Scheme, credential.Id, credential.OrgId, credential.Scopes);
        var identity = (ClaimsIdentity)principal.Identity!;
        identity.AddClaim(new Claim(ConsoleAuth.NameClaim, credential.Name));
        if (credential.Kind == CredentialKinds.BearerToken)
        {
            identity.AddClaim(new Claim(ConsoleAuth.AreaClaim, ConsoleAuth.AreaRuns));
        }

        if (credential.Kind == CredentialKinds.DatadogAppKey || credential.HasScope(AuthClaims.ScopeAdmin))
        {
            identity.AddClaim(new Claim(ConsoleAuth.AreaClaim, ConsoleAuth.AreaLlm));
        }

        await context.SignInAsync(ConsoleAuth.Scheme, principal);

        // The antiforgery token is bound to the user: hand out the one for the new session.
        context.User = principal;
        return TypedResults.Json(SessionDto.Of(context, antiforgery), ConsoleJson.Default.SessionDto);
    }

    public static async Task<NoContent> SignOutAsync(HttpContext context)
    {
        await context.SignOutAsync(ConsoleAuth.Scheme);
        return TypedResults.NoContent();
    }
}

public sealed record SignInRequest(string? Credential);

public sealed record SessionCapabilities(bool Runs, bool RunsWrite, bool Llm, bool LlmWrite, bool Admin);

public sealed record SessionDto(bool SignedIn, string? CredentialId, string? Name, string? Org, List<string> Scopes, SessionCapabilities Can, string Csrf)
{
    public static SessionDto Of(HttpContext context, IAntiforgery antiforgery)
    {
        var csrf = antiforgery.GetAndStoreTokens(context).RequestToken!;
        var user = context.User;
        if (user.Identity?.AuthenticationType != ConsoleAuth.Scheme)
        {
            return new SessionDto(false, null, null, null, [], new SessionCapabilities(false, false, false, false, false), csrf);
        }

        var admin = user.HasScope(AuthClaims.ScopeAdmin);
        var runs = user.HasClaim(ConsoleAuth.AreaClaim, ConsoleAuth.AreaRuns);
        var llm = user.HasClaim(ConsoleAuth.AreaClaim, ConsoleAuth.AreaLlm);
        return new SessionDto(
            true,
            user.FindFirst(AuthClaims.CredentialId)?.Value,
            user.FindFirst(ConsoleAuth.NameClaim)?.Value,
            user.FindFirst(AuthClaims.Org)?.Value,
            [.. user.FindAll(AuthClaims.Scope).Select(c => c.Value)],
            new SessionCapabilities(
                runs,
                runs,
                llm && (admin || user.HasScope(AuthClaims.ScopeRead)),
                llm && (admin || user.HasScope(AuthClaims.ScopeWrite)),
                admin),
            csrf);
    }
}
