using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Runledger.Server.Auth;
using Runledger.Server.WebConsole;

// In the root namespace so RunledgerApp calls AddConsole()/MapConsole() without another using.
namespace Runledger.Server;

/// <summary>
/// The web console at <c>/ui</c>: static assets embedded in the server, JSON endpoints under
/// <c>/ui/api</c> backed by the same stores and lifecycle services as the public APIs, a cookie
/// session started from a pasted credential, and antiforgery on every state-changing call.
/// </summary>
public static class ConsoleExtensions
{
    public static IServiceCollection AddConsole(this IServiceCollection services)
    {
        services.AddAuthentication().AddCookie(ConsoleAuth.Scheme);
        services.AddSingleton<IConfigureOptions<CookieAuthenticationOptions>, ConsoleAuth.ConfigureCookie>();
        services.AddAntiforgery(o =>
        {
            o.HeaderName = ConsoleAuth.CsrfHeader;
            o.Cookie.Name = "rl_console_csrf";
            o.Cookie.Path = "/ui";
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.HttpOnly = true;
        });

        // Keys derived from the signing key in the store: the same on every node (see ConsoleDataProtectionProvider).
        services.Replace(ServiceDescriptor.Singleton<IDataProtectionProvider, ConsoleDataProtectionProvider>());
        services.AddAuthorizationBuilder()
            .AddPolicy(ConsoleAuth.User, p => p.AddAuthenticationSchemes(ConsoleAuth.Scheme).RequireAuthenticatedUser())
            .AddPolicy(ConsoleAuth.Runs, p => p.AddAuthenticationSchemes(ConsoleAuth.Scheme).RequireAuthenticatedUser()
                .RequireClaim(ConsoleAuth.AreaClaim, ConsoleAuth.AreaRuns))
            .AddPolicy(ConsoleAuth.Admin, p => p.AddAuthenticationSchemes(ConsoleAuth.Scheme).RequireAuthenticatedUser()
                .AddRequirements(new ScopeRequirement(AuthClaims.ScopeAdmin)))
            .AddPolicy(ConsoleAuth.LlmRead, p => p.AddAuthenticationSchemes(ConsoleAuth.Scheme).RequireAuthenticatedUser()
                .RequireClaim(ConsoleAuth.AreaClaim, ConsoleAuth.AreaLlm).AddRequirements(new ScopeRequirement(AuthClaims.ScopeRead)))
            .AddPolicy(ConsoleAuth.LlmWrite, p => p.AddAuthenticationSchemes(ConsoleAuth.Scheme).RequireAuthenticatedUser()
                .RequireClaim(ConsoleAuth.AreaClaim, ConsoleAuth.AreaLlm).AddRequirements(new ScopeRequirement(AuthClaims.ScopeWrite)));
        services.AddSingleton<ConsoleAssets>();
        return services;
    }

    public static IEndpointRouteBuilder MapConsole(this IEndpointRouteBuilder app)
    {
        app.MapConsoleAssets();
        var api = app.MapGroup("/ui/api").AddEndpointFilter(ValidateCsrfAsync);
        api.MapConsoleSession();
        api.MapConsoleRuns();
        api.MapConsoleLifecycle();
        api.MapConsoleLlmObs();
        return app;
    }

    /// <summary>Every state-changing console call carries the antiforgery token in a header that only our script can set.</summary>
    private static async ValueTask<object?> ValidateCsrfAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        if (!HttpMethods.IsGet(http.Request.Method) && !HttpMethods.IsHead(http.Request.Method))
        {
            // The token is bound to the session's user: routes without a policy (sign-in, sign-out) read the cookie here.
            if (http.User.Identity?.IsAuthenticated != true && await http.AuthenticateAsync(ConsoleAuth.Scheme) is { Succeeded: true } session)
            {
                http.User = session.Principal;
            }

            var antiforgery = http.RequestServices.GetRequiredService<IAntiforgery>();
            if (!await antiforgery.IsRequestValidAsync(http))
            {
                return new Hosting.ApiError(StatusCodes.Status403Forbidden, "CsrfTokenInvalid",
                    $"The {ConsoleAuth.CsrfHeader} header is missing or does not match this session; reload the console and try again.").ToResult();
            }
        }

        return await next(context);
    }
}
