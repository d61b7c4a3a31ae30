using System.Security.Claims;

namespace Runledger.Server.Auth;

public static class AuthClaims
{
    /// <summary>The credential id (never the secret); what audit entries name as the actor.</summary>
    public const string CredentialId = "rl_cred";

    /// <summary>Scopes, one claim each or space-separated (JWT <c>scope</c>).</summary>
    public const string Scope = "scope";

    /// <summary>The organisation a Datadog key pair belongs to; LLM Obs data is kept per organisation.</summary>
    public const string Org = "rl_org";

    public const string ScopeAdmin = "admin";
    public const string ScopeRead = "read";
    public const string ScopeWrite = "write";

    public static bool HasScope(this ClaimsPrincipal user, string scope) =>
        user.FindAll(Scope).Any(c => c.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains(scope, StringComparer.Ordinal));

    public static string Actor(this ClaimsPrincipal user) => user.FindFirst(CredentialId)?.Value ?? "anonymous";

    public static ClaimsPrincipal Principal(string scheme, string credentialId, string orgId, string scopes)
    {
        var claims = new List<Claim> { new(CredentialId, credentialId), new(Org, orgId) };
        claims.AddRange(scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => new Claim(Scope, s)));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, scheme));
    }
}
