using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Runledger.Storage.Credentials;

namespace Runledger.Server.Auth;

/// <summary>Static AI API bearer tokens (<c>Authorization: Bearer rl_…</c>), looked up by hash.</summary>
internal sealed class ApiTokenHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    ICredentialStore credentials)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiToken";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var token = BearerToken(Request);
        if (token is null)
        {
            return AuthenticateResult.NoResult();
        }

        var credential = await credentials.FindByLookupHashAsync(CredentialKinds.BearerToken, Secrets.LookupHash(token), Context.RequestAborted);
        if (credential is null)
        {
            AuthFailure.Set(Context, "The bearer token is not known or has been revoked.");
            return AuthenticateResult.Fail("unknown token");
        }

        var principal = AuthClaims.Principal(SchemeName, credential.Id, credential.OrgId, credential.Scopes);
        return AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName));
    }

    internal static string? BearerToken(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && header.Length > 7 ? header[7..].Trim() : null;
    }
}
