using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace Runledger.Server.Auth;

public static class Policies
{
    /// <summary>Any valid AI API credential (static token or issued JWT).</summary>
    public const string AiApi = "ai-api";

    /// <summary>AI API credential with the admin scope: resource-group admin and <c>/runledger/v1</c>.</summary>
    public const string Admin = "admin";

    public const string LlmObsRead = "llm-obs-read";
    public const string LlmObsWrite = "llm-obs-write";
}

public static class AuthExtensions
{
    /// <summary>Forwards to the JWT handler for three-part tokens, else to the static-token handler.</summary>
    public const string AiApiScheme = "AiApi";

    public static IServiceCollection AddRunledgerAuth(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<AuthOptions>().Bind(configuration.GetSection(AuthOptions.Section))
            .Validate(o => o.TokenLifetimeSeconds is >= 60 and <= 86_400, "Auth:TokenLifetimeSeconds must be between 60 and 86400.")
            .ValidateOnStart();
        services.AddSingleton<SigningKey>();
        services.AddSingleton<JwtIssuer>();
        services.AddSingleton<IAuthorizationMiddlewareResultHandler, DialectAuthorizationResultHandler>();
        services.AddSingleton<IConfigureOptions<JwtBearerOptions>, ConfigureJwt>();

        services.AddAuthentication()
            .AddPolicyScheme(AiApiScheme, "AI API bearer", o => o.ForwardDefaultSelector = context =>
                ApiTokenHandler.BearerToken(context.Request) is { } token && token.Count(c => c == '.') == 2
                    ? JwtBearerDefaults.AuthenticationScheme
                    : ApiTokenHandler.SchemeName)
            .AddJwtBearer()
            .AddScheme<AuthenticationSchemeOptions, ApiTokenHandler>(ApiTokenHandler.SchemeName, null)
            .AddScheme<AuthenticationSchemeOptions, DatadogKeyHandler>(DatadogKeyHandler.SchemeName, null);

        services.AddAuthorizationBuilder()
            .AddPolicy(Policies.AiApi, p => p.AddAuthenticationSchemes(AiApiScheme).RequireAuthenticatedUser()
                .AddRequirements(new NotExecutionTokenRequirement()))
            .AddPolicy(Policies.Admin, p => p.AddAuthenticationSchemes(AiApiScheme).RequireAuthenticatedUser()
                .AddRequirements(new NotExecutionTokenRequirement(), new ScopeRequirement(AuthClaims.ScopeAdmin)))
            .AddPolicy(Policies.LlmObsRead, p => p.AddAuthenticationSchemes(DatadogKeyHandler.SchemeName).RequireAuthenticatedUser()
                .AddRequirements(new ScopeRequirement(AuthClaims.ScopeRead)))
            .AddPolicy(Policies.LlmObsWrite, p => p.AddAuthenticationSchemes(DatadogKeyHandler.SchemeName).RequireAuthenticatedUser()
                .AddRequirements(new ScopeRequirement(AuthClaims.ScopeWrite)));
        return services;
    }

    /// <summary>Validates issued JWTs on every request: signature, issuer, audience, lifetime on our clock.</summary>
    private sealed class ConfigureJwt(SigningKey signingKey, IOptions<AuthOptions> auth, TimeProvider time) : IConfigureNamedOptions<JwtBearerOptions>
    {
        public void Configure(string? name, JwtBearerOptions options)
        {
            if (name != JwtBearerDefaults.AuthenticationScheme)
            {
                return;
            }

            options.MapInboundClaims = false;
            options.TimeProvider = time;
            options.TokenValidationParameters = new TokenValidationParameters
            {
                ValidIssuer = auth.Value.Issuer,
                ValidAudience = auth.Value.Issuer,
                IssuerSigningKeyResolver = (_, _, _, _) => [signingKey.Key],
                ClockSkew = TimeSpan.Zero,
                // The default lifetime check reads the machine clock; ours follows the injected TimeProvider.
                LifetimeValidator = (notBefore, expires, _, _) =>
                {
                    var now = time.GetUtcNow().UtcDateTime;
                    return expires is { } exp && exp > now && (notBefore is not { } nbf || nbf <= now);
                },
            };
            options.Events = new JwtBearerEvents
            {
                OnAuthenticationFailed = context =>
                {
                    AuthFailure.Set(context.HttpContext, context.Exception is SecurityTokenInvalidLifetimeException or SecurityTokenExpiredException
                        ? "The bearer token has expired; request a new one from POST /oauth/token."
                        : "The bearer token is not a valid token issued by this server.");
                    return Task.CompletedTask;
                },
            };
        }

        public void Configure(JwtBearerOptions options) => Configure(Options.DefaultName, options);
    }
}
