namespace Runledger.Server.Auth;

/// <summary>Keys under <c>Auth:</c>.</summary>
public sealed class AuthOptions
{
    public const string Section = "Auth";

    /// <summary>Lifetime of JWTs issued by <c>POST /oauth/token</c>.</summary>
    public int TokenLifetimeSeconds { get; set; } = 3600;

    /// <summary>The <c>iss</c> and <c>aud</c> of issued JWTs.</summary>
    public string Issuer { get; set; } = "runledger";
}
