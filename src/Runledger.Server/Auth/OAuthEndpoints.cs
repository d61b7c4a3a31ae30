using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Runledger.Storage.Credentials;

namespace Runledger.Server.Auth;

/// <summary>
/// <c>POST /oauth/token</c>, OAuth2 client credentials (RFC 6749 §4.4), as the SAP SDK calls it:
/// form-encoded <c>grant_type=client_credentials&amp;client_id=…&amp;client_secret=…</c> (HTTP Basic
/// client authentication is accepted too). Answers a signed JWT, since the SDK decodes it to read <c>exp</c>.
/// Errors use the OAuth2 shape <c>{"error","error_description"}</c>.
/// </summary>
public static class OAuthEndpoints
{
    public static IEndpointRouteBuilder MapOAuth(this IEndpointRouteBuilder app)
    {
        app.MapPost("/oauth/token", IssueTokenAsync).AllowAnonymous().DisableAntiforgery();
        return app;
    }

    public static async Task<Results<JsonHttpResult<TokenResponse>, JsonHttpResult<OAuthErrorResponse>>> IssueTokenAsync(
        HttpContext context, ICredentialStore credentials, JwtIssuer issuer, IOptions<AuthOptions> options)
    {
        context.Response.Headers.CacheControl = "no-store";
        if (!context.Request.HasFormContentType)
        {
            return OAuthError(StatusCodes.Status400BadRequest, "invalid_request", "Send the token request as application/x-www-form-urlencoded.");
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        var grantType = form["grant_type"].ToString();
        if (grantType != "client_credentials")
        {
            return OAuthError(StatusCodes.Status400BadRequest, "unsupported_grant_type",
                grantType.Length == 0 ? "grant_type is missing; use grant_type=client_credentials." : $"grant_type '{grantType}' is not supported; use client_credentials.");
        }

        var (clientId, clientSecret) = ClientCredentials(context.Request, form);
        if (clientId is null || clientSecret is null)
        {
            return OAuthError(StatusCodes.Status401Unauthorized, "invalid_client", "client_id and client_secret are required (form fields or HTTP Basic).");
        }

        var client = await credentials.FindByClientIdAsync(clientId, context.RequestAborted);
        if (client?.SecretHash is null || !Secrets.VerifyClientSecret(clientSecret, client.SecretHash))
        {
            return OAuthError(StatusCodes.Status401Unauthorized, "invalid_client", "Unknown client_id or wrong client_secret.");
        }

        var lifetime = options.Value.TokenLifetimeSeconds;
        var token = issuer.Issue(
            [
                new Claim("sub", client.Id),
                new Claim(AuthClaims.CredentialId, client.Id),
                new Claim(AuthClaims.Org, client.OrgId),
                new Claim("client_id", clientId),
                new Claim(AuthClaims.Scope, client.Scopes),
            ],
            TimeSpan.FromSeconds(lifetime));
        return TypedResults.Json(
            new TokenResponse(token, "bearer", lifetime, client.Scopes),
            AuthJson.Default.TokenResponse);
    }

    private static (string? Id, string? Secret) ClientCredentials(HttpRequest request, IFormCollection form)
    {
        var header = request.Headers.Authorization.ToString();
        if (header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..].Trim()));
                var colon = decoded.IndexOf(':', StringComparison.Ordinal);
                if (colon > 0)
                {
                    return (Uri.UnescapeDataString(decoded[..colon]), Uri.UnescapeDataString(decoded[(colon + 1)..]));
                }
            }
            catch (FormatException)
            {
                return (null, null);
            }
        }

        var id = form["client_id"].ToString();
        var secret = form["client_secret"].ToString();
        return (id.Length == 0 ? null : id, secret.Length == 0 ? null : secret);
    }

    private static JsonHttpResult<OAuthErrorResponse> OAuthError(int status, string error, string description)
    {
        var body = new OAuthErrorResponse(error, description);
        return TypedResults.Json(body, AuthJson.Default.OAuthErrorResponse, statusCode: status);
    }
}

public sealed record TokenResponse(string AccessToken, string TokenType, int ExpiresIn, string Scope);

public sealed record OAuthErrorResponse(string Error, string ErrorDescription);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower)]
[System.Text.Json.Serialization.JsonSerializable(typeof(TokenResponse))]
[System.Text.Json.Serialization.JsonSerializable(typeof(OAuthErrorResponse))]
internal sealed partial class AuthJson : System.Text.Json.Serialization.JsonSerializerContext;
