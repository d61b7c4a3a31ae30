using Dapper;

namespace Runledger.Storage.Credentials;

/// <summary>Kinds of credential. Secrets are never stored, only their hashes.</summary>
public static class CredentialKinds
{
    /// <summary>A static <c>Authorization: Bearer</c> token for the AI API; looked up by SHA-256.</summary>
    public const string BearerToken = "bearer_token";

    /// <summary>An OAuth client (client id + PBKDF2-hashed secret) accepted by <c>/oauth/token</c>.</summary>
    public const string OAuthClient = "oauth_client";

    /// <summary>A Datadog <c>DD-API-KEY</c>; identifies the organisation.</summary>
    public const string DatadogApiKey = "dd_api_key";

    /// <summary>A Datadog <c>DD-APPLICATION-KEY</c>; carries the scopes and the owning user.</summary>
    public const string DatadogAppKey = "dd_app_key";
}

public sealed class CredentialRow
{
    public required string Id { get; init; }
    public required string Kind { get; init; }
    public required string Name { get; init; }

    /// <summary>SHA-256 (hex) of the secret, for kinds looked up by the secret itself.</summary>
    public string? LookupHash { get; init; }

    /// <summary>Public identifier of an OAuth client.</summary>
    public string? ClientId { get; init; }

    /// <summary>PBKDF2 hash of an OAuth client secret (<c>pbkdf2-sha256$iterations$salt$hash</c>).</summary>
    public string? SecretHash { get; init; }

    /// <summary>Space-separated scopes: <c>admin</c>, <c>read</c>, <c>write</c>.</summary>
    public required string Scopes { get; init; }

    public required string OrgId { get; init; }
    public long CreatedAt { get; init; }
    public long? RevokedAt { get; init; }

    public bool HasScope(string scope) => Scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains(scope, StringComparer.Ordinal);
}

public interface ICredentialStore
{
    Task<CredentialRow?> FindByLookupHashAsync(string kind, string lookupHash, CancellationToken cancellationToken);

    Task<CredentialRow?> FindByClientIdAsync(string clientId, CancellationToken cancellationToken);

    Task<long> CountActiveAsync(CancellationToken cancellationToken);

    /// <summary>Inserts or replaces the credential with this id (used for credentials defined by environment).</summary>
    Task UpsertAsync(CredentialRow row, CancellationToken cancellationToken);

    /// <summary>Returns the stored JWT signing key, creating it from <paramref name="create"/> on first use.</summary>
    Task<string> GetOrCreateSigningKeyAsync(Func<string> create, long now, CancellationToken cancellationToken);

    /// <summary>Inserts a new credential inside the caller's transaction (so its audit entry commits with it).</summary>
    Task InsertAsync(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction transaction, CredentialRow row, CancellationToken cancellationToken);

    /// <summary>
    /// Marks the credential revoked; every lookup ignores it from then on (on this node once the
    /// caller has committed and called <see cref="ForgetRemembered"/>; on other nodes within
    /// <see cref="LookupCache.TimeToLive"/>). False when it is unknown or already revoked.
    /// </summary>
    Task<bool> RevokeAsync(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction transaction, string id, long now, CancellationToken cancellationToken);

    Task<CredentialRow?> GetAsync(string id, CancellationToken cancellationToken);

    /// <summary>Forgets the remembered look-ups: call it after committing a transaction that revoked a credential.</summary>
    void ForgetRemembered();

    /// <summary>Every credential, oldest first, revoked ones included (hashes are for the caller to leave out).</summary>
    Task<IReadOnlyList<CredentialRow>> ListAsync(string? kind, bool includeRevoked, CancellationToken cancellationToken);
}

public sealed class CredentialStore(IDatabase database, LookupCache cache) : ICredentialStore
{
    private const string Columns = "id, kind, name, lookup_hash, client_id, secret_hash, scopes, org_id, created_at, revoked_at";

    /// <summary>Asked by every authenticated request: a live credential found is remembered briefly (<see cref="LookupCache"/>).</summary>
    public async Task<CredentialRow?> FindByLookupHashAsync(string kind, string lookupHash, CancellationToken cancellationToken)
    {
        var key = string.Concat("credential:", kind, ":", lookupHash);
        if (cache.TryGet<CredentialRow>(key, out var known))
        {
            return known;
        }

        var version = cache.Version;
        await using var connection = await database.OpenAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<CredentialRow>(new CommandDefinition(
            $"SELECT {Columns} FROM credentials WHERE lookup_hash = @lookupHash AND kind = @kind AND revoked_at IS NULL",
            new { kind, lookupHash }, cancellationToken: cancellationToken));
        if (row is not null)
        {
            cache.Remember(key, row, version);
        }

        return row;
    }

    public void ForgetRemembered() => cache.Invalidate();

    public async Task<CredentialRow?> FindByClientIdAsync(string clientId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<CredentialRow>(new CommandDefinition(
            $"SELECT {Columns} FROM credentials WHERE client_id = @clientId AND kind = @kind AND revoked_at IS NULL",
            new { clientId, kind = CredentialKinds.OAuthClient }, cancellationToken: cancellationToken));
    }

    public async Task<long> CountActiveAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT COUNT(*) FROM credentials WHERE revoked_at IS NULL", cancellationToken: cancellationToken));
    }

    public async Task UpsertAsync(CredentialRow row, CancellationToken cancellationToken)
    {
        // Replacing a credential may change its scopes or revoke it: forget before and after the commit.
        cache.Invalidate();
        using var forgetAfter = new InvalidateOnDispose(cache);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);

        // One statement, not delete-then-insert: two nodes starting together on one PostgreSQL define
        // the same credentials from their environment, and the second insert failed on the key.
        await connection.ExecuteAsync(new CommandDefinition(
            $"""
            INSERT INTO credentials ({Columns}) VALUES (@Id, @Kind, @Name, @LookupHash, @ClientId, @SecretHash, @Scopes, @OrgId, @CreatedAt, @RevokedAt)
            ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, name = excluded.name, lookup_hash = excluded.lookup_hash,
                client_id = excluded.client_id, secret_hash = excluded.secret_hash, scopes = excluded.scopes, org_id = excluded.org_id,
                created_at = excluded.created_at, revoked_at = excluded.revoked_at
            """,
            row, transaction, cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
    }

    public async Task<string> GetOrCreateSigningKeyAsync(Func<string> create, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        var existing = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT key_material FROM signing_keys WHERE id = 'jwt'", transaction: transaction, cancellationToken: cancellationToken));
        if (existing is not null)
        {
            return existing;
        }

        // Two nodes starting together on a new PostgreSQL database both find no key: the first insert
        // wins and the other node reads the winner's key, so tokens one node signs, the other accepts.
        var key = create();
        var inserted = await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO signing_keys (id, key_material, created_at) VALUES ('jwt', @key, @now) ON CONFLICT (id) DO NOTHING",
            new { key, now }, transaction, cancellationToken: cancellationToken));
        if (inserted == 0)
        {
            return await connection.QuerySingleAsync<string>(new CommandDefinition(
                "SELECT key_material FROM signing_keys WHERE id = 'jwt'", transaction: transaction, cancellationToken: cancellationToken));
        }

        await transaction.CommitAsync(cancellationToken);
        return key;
    }

    public Task InsertAsync(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction transaction, CredentialRow row, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(new CommandDefinition(
            $"INSERT INTO credentials ({Columns}) VALUES (@Id, @Kind, @Name, @LookupHash, @ClientId, @SecretHash, @Scopes, @OrgId, @CreatedAt, @RevokedAt)",
            row, transaction, cancellationToken: cancellationToken));

    public async Task<bool> RevokeAsync(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction transaction, string id, long now, CancellationToken cancellationToken)
    {
        // Before the update, so no answer read from now on is remembered; the caller forgets again after its commit.
        cache.Invalidate();
        return await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE credentials SET revoked_at = @now WHERE id = @id AND revoked_at IS NULL",
            new { id, now }, transaction, cancellationToken: cancellationToken)) == 1;
    }

    public async Task<CredentialRow?> GetAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<CredentialRow>(new CommandDefinition(
            $"SELECT {Columns} FROM credentials WHERE id = @id", new { id }, cancellationToken: cancellationToken));
    }

    public async Task<IReadOnlyList<CredentialRow>> ListAsync(string? kind, bool includeRevoked, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<CredentialRow>(new CommandDefinition(
            $"SELECT {Columns} FROM credentials WHERE (@kind IS NULL OR kind = @kind) AND (@includeRevoked OR revoked_at IS NULL) ORDER BY created_at, id",
            new { kind, includeRevoked }, cancellationToken: cancellationToken));
        return rows.AsList();
    }
}
