using Runledger.Server.Auth;
using Runledger.Storage.Credentials;
using Runledger.Storage.Migrations;
using Runledger.Storage.ResourceGroups;

namespace Runledger.Server.Hosting;

/// <summary>
/// Runs before the server listens (it is the first hosted service): migrations, the JWT signing
/// key, credentials from the environment or generated on first start, and the <c>default</c> group.
/// Any failure stops the start with a non-zero exit.
/// </summary>
internal sealed partial class StartupTasks(
    MigrationRunner migrations,
    ICredentialStore credentials,
    IResourceGroupStore resourceGroups,
    SigningKey signingKey,
    IConfiguration configuration,
    TimeProvider time,
    ILogger<StartupTasks> logger) : IHostedService
{
    public const string DefaultResourceGroup = "default";
    public const string DefaultOrg = "default";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await migrations.ApplyAsync(cancellationToken);
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        signingKey.Load(await credentials.GetOrCreateSigningKeyAsync(Secrets.NewSigningKey, now, cancellationToken));
        await ApplyEnvironmentCredentialsAsync(now, cancellationToken);
        if (await credentials.CountActiveAsync(cancellationToken) == 0)
        {
            await GenerateFirstStartCredentialsAsync(now, cancellationToken);
        }

        await resourceGroups.CreateAsync(
            new ResourceGroupRow { Id = DefaultResourceGroup, TenantId = DefaultOrg, Labels = "[]", Status = "PROVISIONED", CreatedAt = now, ModifiedAt = now },
            cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>RUNLEDGER_ADMIN_TOKEN, RUNLEDGER_CLIENT_ID/SECRET, RUNLEDGER_DD_API_KEY/APP_KEY: defined at every start.</summary>
    private async Task ApplyEnvironmentCredentialsAsync(long now, CancellationToken cancellationToken)
    {
        if (Value("RUNLEDGER_ADMIN_TOKEN") is { } adminToken)
        {
            await credentials.UpsertAsync(Credential("env-admin-token", CredentialKinds.BearerToken, "RUNLEDGER_ADMIN_TOKEN", now, AuthClaims.ScopeAdmin, lookupHash: Secrets.LookupHash(adminToken)), cancellationToken);
            LogDefined(logger, "RUNLEDGER_ADMIN_TOKEN");
        }

        if (Value("RUNLEDGER_CLIENT_ID") is { } clientId && Value("RUNLEDGER_CLIENT_SECRET") is { } clientSecret)
        {
            await credentials.UpsertAsync(Credential("env-oauth-client", CredentialKinds.OAuthClient, "RUNLEDGER_CLIENT_ID", now, AuthClaims.ScopeAdmin, clientId: clientId, secretHash: Secrets.HashClientSecret(clientSecret)), cancellationToken);
            LogDefined(logger, "RUNLEDGER_CLIENT_ID");
        }

        if (Value("RUNLEDGER_DD_API_KEY") is { } apiKey && Value("RUNLEDGER_DD_APP_KEY") is { } appKey)
        {
            await credentials.UpsertAsync(Credential("env-dd-api-key", CredentialKinds.DatadogApiKey, "RUNLEDGER_DD_API_KEY", now, "", lookupHash: Secrets.LookupHash(apiKey)), cancellationToken);
            await credentials.UpsertAsync(Credential("env-dd-app-key", CredentialKinds.DatadogAppKey, "RUNLEDGER_DD_APP_KEY", now, "read write", lookupHash: Secrets.LookupHash(appKey)), cancellationToken);
            LogDefined(logger, "RUNLEDGER_DD_API_KEY");
        }
    }

    private async Task GenerateFirstStartCredentialsAsync(long now, CancellationToken cancellationToken)
    {
        var adminToken = Secrets.NewBearerToken();
        var clientId = Secrets.NewClientId();
        var clientSecret = Secrets.NewClientSecret();
        var apiKey = Secrets.NewDatadogApiKey();
        var appKey = Secrets.NewDatadogAppKey();
        await credentials.UpsertAsync(Credential("initial-admin-token", CredentialKinds.BearerToken, "initial admin token", now, AuthClaims.ScopeAdmin, lookupHash: Secrets.LookupHash(adminToken)), cancellationToken);
        await credentials.UpsertAsync(Credential("initial-oauth-client", CredentialKinds.OAuthClient, "initial OAuth client", now, AuthClaims.ScopeAdmin, clientId: clientId, secretHash: Secrets.HashClientSecret(clientSecret)), cancellationToken);
        await credentials.UpsertAsync(Credential("initial-dd-api-key", CredentialKinds.DatadogApiKey, "initial Datadog API key", now, "", lookupHash: Secrets.LookupHash(apiKey)), cancellationToken);
        await credentials.UpsertAsync(Credential("initial-dd-app-key", CredentialKinds.DatadogAppKey, "initial Datadog application key", now, "read write", lookupHash: Secrets.LookupHash(appKey)), cancellationToken);

        // Printed to the console once, never logged: only the hashes are stored.
        Console.Out.WriteLine($"""

            ==== Runledger first start: credentials (shown only this once; only their hashes are stored) ====
            AI API admin token:        {adminToken}
            OAuth client id:           {clientId}
            OAuth client secret:       {clientSecret}
            Datadog DD-API-KEY:        {apiKey}
            Datadog DD-APPLICATION-KEY:{appKey}
            ==================================================================================================

            """);
        LogGenerated(logger);
    }

    private string? Value(string key) => configuration[key] is { Length: > 0 } value ? value : null;

    private static CredentialRow Credential(string id, string kind, string name, long now, string scopes, string? lookupHash = null, string? clientId = null, string? secretHash = null) =>
        new() { Id = id, Kind = kind, Name = name, Scopes = scopes, OrgId = DefaultOrg, CreatedAt = now, LookupHash = lookupHash, ClientId = clientId, SecretHash = secretHash };

    [LoggerMessage(Level = LogLevel.Information, Message = "Credential defined by {Variable} from the environment")]
    private static partial void LogDefined(ILogger logger, string variable);

    [LoggerMessage(Level = LogLevel.Warning, Message = "No credentials existed: generated an admin token, an OAuth client and a Datadog key pair, printed above once")]
    private static partial void LogGenerated(ILogger logger);
}
