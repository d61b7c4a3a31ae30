using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;
using Runledger.Server.Auth;
using Runledger.Server.Hosting;
using Runledger.Storage;
using Runledger.Storage.Audit;
using Runledger.Storage.Credentials;

namespace Runledger.Server.Admin;

/// <summary>
/// <c>/runledger/v1/credentials</c>: create, list and revoke the credentials the server knows
/// (AI API bearer tokens, OAuth clients, Datadog API and application keys). A secret is shown once,
/// in the create response; only its hash is stored. Revoking takes effect on the next request for
/// bearer tokens, Datadog keys and <c>/oauth/token</c>; JWTs already issued to a revoked OAuth client
/// stay valid until they expire (at most <c>Auth:TokenLifetimeSeconds</c>), as they are checked by signature only.
/// </summary>
public static partial class CredentialEndpoints
{
    private static readonly string[] Kinds = [CredentialKinds.BearerToken, CredentialKinds.OAuthClient, CredentialKinds.DatadogApiKey, CredentialKinds.DatadogAppKey];
    private static readonly string[] Scopes = [AuthClaims.ScopeAdmin, AuthClaims.ScopeRead, AuthClaims.ScopeWrite];

    public static RouteGroupBuilder MapCredentials(this RouteGroupBuilder group)
    {
        group.MapPost("/credentials", CreateAsync);
        group.MapGet("/credentials", ListAsync);
        group.MapDelete("/credentials/{credentialId}", RevokeAsync);
        return group;
    }

    public static async Task<Results<JsonHttpResult<CredentialDto>, ErrorResult>> CreateAsync(
        HttpContext context, ICredentialStore credentials, IAuditStore audit, IDatabase database, TimeProvider time)
    {
        var body = await JsonBody.ReadAsync(context, AdminJson.Default.CredentialCreateRequest, "application/json");
        if (!body.Ok)
        {
            return body.Error!.ToResult();
        }

        var request = body.Value!;
        if (Validate(request) is { } error)
        {
            return error.ToResult();
        }

        var kind = request.Kind!;
        var scopes = string.Join(' ', (request.Scopes ?? []).Distinct(StringComparer.Ordinal));
        var orgId = request.OrgId ?? StartupTasks.DefaultOrg;
        string secret;
        string? clientId = null;
        string? lookupHash = null;
        string? secretHash = null;
        switch (kind)
        {
            case CredentialKinds.OAuthClient:
                clientId = Secrets.NewClientId();
                secret = Secrets.NewClientSecret();
                secretHash = Secrets.HashClientSecret(secret);
                break;
            case CredentialKinds.DatadogApiKey:
                secret = Secrets.NewDatadogApiKey();
                lookupHash = Secrets.LookupHash(secret);
                break;
            case CredentialKinds.DatadogAppKey:
                secret = Secrets.NewDatadogAppKey();
                lookupHash = Secrets.LookupHash(secret);
                break;
            default:
                secret = Secrets.NewBearerToken();
                lookupHash = Secrets.LookupHash(secret);
                break;
        }

        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var row = new CredentialRow
        {
            Id = "cred-" + Guid.CreateVersion7().ToString("N"),
            Kind = kind,
            Name = request.Name!,
            Scopes = scopes,
            OrgId = orgId,
            CreatedAt = now,
            ClientId = clientId,
            LookupHash = lookupHash,
            SecretHash = secretHash,
        };
        using (await database.EnterWriteQueueAsync(context.RequestAborted))
        {
            await using var connection = await database.OpenAsync(context.RequestAborted);
            await using var transaction = await database.BeginWriteAsync(connection, context.RequestAborted);
            await credentials.InsertAsync(connection, transaction, row, context.RequestAborted);
            await audit.AppendAsync(connection, transaction, Entry(context, "credential.created", row, now), context.RequestAborted);
            await transaction.CommitAsync(context.RequestAborted);
        }

        return TypedResults.Json(CredentialDto.From(row, secret), AdminJson.Default.CredentialDto, statusCode: StatusCodes.Status201Created);
    }

    public static async Task<Results<JsonHttpResult<CredentialList>, ErrorResult>> ListAsync(
        string? kind, bool? includeRevoked, ICredentialStore credentials, CancellationToken cancellationToken)
    {
        if (kind is not null && !Kinds.Contains(kind))
        {
            return ApiError.BadRequest("InvalidParameter", $"kind '{kind}' is unknown; use one of {string.Join(", ", Kinds)}.").ToResult();
        }

        var rows = await credentials.ListAsync(kind, includeRevoked ?? false, cancellationToken);
        return TypedResults.Json(new CredentialList(rows.Select(r => CredentialDto.From(r)).ToList()), AdminJson.Default.CredentialList);
    }

    public static async Task<Results<JsonHttpResult<CredentialDto>, ErrorResult>> RevokeAsync(
        string credentialId, HttpContext context, ICredentialStore credentials, IAuditStore audit, IDatabase database, TimeProvider time)
    {
        var row = await credentials.GetAsync(credentialId, context.RequestAborted);
        if (row is null)
        {
            return ApiError.NotFound("CredentialNotFound", $"There is no credential '{credentialId}'; list them with GET /runledger/v1/credentials.").ToResult();
        }

        if (row.Id.StartsWith("env-", StringComparison.Ordinal))
        {
            // Defined again from the environment at every start: a revocation here would not last.
            return new ApiError(StatusCodes.Status409Conflict, "CredentialFromEnvironment",
                $"Credential '{credentialId}' is defined by the environment variable {row.Name}; remove or change that variable and restart to revoke it.").ToResult();
        }

        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        bool revoked;
        using (await database.EnterWriteQueueAsync(context.RequestAborted))
        {
            await using var connection = await database.OpenAsync(context.RequestAborted);
            await using var transaction = await database.BeginWriteAsync(connection, context.RequestAborted);
            revoked = await credentials.RevokeAsync(connection, transaction, credentialId, now, context.RequestAborted);
            if (revoked)
            {
                await audit.AppendAsync(connection, transaction, Entry(context, "credential.revoked", row, now), context.RequestAborted);
                await transaction.CommitAsync(context.RequestAborted);
                credentials.ForgetRemembered(); // refused from the next request on, on this node
            }
        }

        if (!revoked)
        {
            return new ApiError(StatusCodes.Status409Conflict, "CredentialRevoked", $"Credential '{credentialId}' is already revoked.").ToResult();
        }

        return TypedResults.Json(CredentialDto.From((await credentials.GetAsync(credentialId, context.RequestAborted))!), AdminJson.Default.CredentialDto);
    }

    private static ApiError? Validate(CredentialCreateRequest request)
    {
        if (request.Kind is null || !Kinds.Contains(request.Kind))
        {
            return Invalid("/kind", request.Kind is null
                ? $"kind is required; use one of {string.Join(", ", Kinds)}."
                : $"kind '{request.Kind}' is unknown; use one of {string.Join(", ", Kinds)}.");
        }

        if (request.Name is null || request.Name.Length is 0 or > 200)
        {
            return Invalid("/name", "name is required: 1 to 200 characters that say who or what uses the credential.");
        }

        var scopes = request.Scopes ?? [];
        if (scopes.FirstOrDefault(s => !Scopes.Contains(s)) is { } unknown)
        {
            return Invalid("/scopes", $"scope '{unknown}' is unknown; use admin, read or write.");
        }

        if (request.Kind == CredentialKinds.DatadogApiKey && scopes.Count > 0)
        {
            return Invalid("/scopes", "a dd_api_key only names the organisation and takes no scopes; give scopes to a dd_app_key instead.");
        }

        if (request.OrgId is not null && !OrgIdPattern().IsMatch(request.OrgId))
        {
            return Invalid("/orgId", $"orgId '{request.OrgId}' is invalid: use 1 to 64 letters, digits, '_', '.' or '-'.");
        }

        return null;

        static ApiError Invalid(string pointer, string message) => ApiError.BadRequest("InvalidCredential", message) with { SourcePointer = pointer };
    }

    private static AuditRow Entry(HttpContext context, string action, CredentialRow row, long now) => new()
    {
        Id = Guid.CreateVersion7().ToString(),
        At = now,
        Actor = context.User.Actor(),
        Action = action,
        TargetKind = "credential",
        TargetId = row.Id,
        Scope = row.OrgId,
        Counts = "{}",
        Detail = $"{row.Kind} '{row.Name}' scopes [{row.Scopes}]",
    };

    [GeneratedRegex("^[A-Za-z0-9_.-]{1,64}$")]
    private static partial Regex OrgIdPattern();
}

public sealed record CredentialCreateRequest(string? Kind, string? Name, List<string>? Scopes, string? OrgId);

// Secret: only in the create response; never stored, never listed.
public sealed record CredentialDto(
    string Id,
    string Kind,
    string Name,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? ClientId,
    List<string> Scopes,
    string OrgId,
    DateTimeOffset CreatedAt,
    DateTimeOffset? RevokedAt,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? Secret)
{
    public static CredentialDto From(CredentialRow row, string? secret = null) => new(
        row.Id,
        row.Kind,
        row.Name,
        row.ClientId,
        row.Scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList(),
        row.OrgId,
        DateTimeOffset.FromUnixTimeMilliseconds(row.CreatedAt),
        row.RevokedAt is { } r ? DateTimeOffset.FromUnixTimeMilliseconds(r) : null,
        secret);
}

public sealed record CredentialList(List<CredentialDto> Credentials);
