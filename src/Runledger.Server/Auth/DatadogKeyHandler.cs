using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Runledger.Storage.Credentials;

namespace Runledger.Server.Auth;

/// <summary>
/// Datadog's pair of headers: <c>DD-API-KEY</c> names the organisation, <c>DD-APPLICATION-KEY</c>
/// the user and its scopes (read, write). Both must be valid and of the same organisation.
/// </summary>
internal sealed class DatadogKeyHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    ICredentialStore credentials)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "Datadog";
    public const string ApiKeyHeader = "DD-API-KEY";
    public const string AppKeyHeader = "DD-APPLICATION-KEY";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var apiKey = Request.Headers[ApiKeyHeader].ToString();
        var appKey = Request.Headers[AppKeyHeader].ToString();
        if (apiKey.Length == 0)
        {
            AuthFailure.Set(Context, $"The {ApiKeyHeader} header is missing; send your API key in it.");
            return AuthenticateResult.NoResult();
        }

        if (appKey.Length == 0)
        {
            AuthFailure.Set(Context, $"The {AppKeyHeader} header is missing; send your application key in it.");
            return AuthenticateResult.NoResult();
        }

        var api = await credentials.FindByLookupHashAsync(CredentialKinds.DatadogApiKey, Secrets.LookupHash(apiKey), Context.RequestAborted);
        if (api is null)
        {
            AuthFailure.Set(Context, $"The {ApiKeyHeader} is not valid or has been revoked.");
            return AuthenticateResult.Fail("unknown api key");
        }

        var app = await credentials.FindByLookupHashAsync(CredentialKinds.DatadogAppKey, Secrets.LookupHash(appKey), Context.RequestAborted);
        if (app is null || app.OrgId != api.OrgId)
        {
            AuthFailure.Set(Context, $"The {AppKeyHeader} is not valid for this API key's organisation, or has been revoked.");
            return AuthenticateResult.Fail("unknown application key");
        }

        var principal = AuthClaims.Principal(SchemeName, app.Id, app.OrgId, app.Scopes);
        return AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName));
    }
}
