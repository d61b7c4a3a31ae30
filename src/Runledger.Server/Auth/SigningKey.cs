using Microsoft.IdentityModel.Tokens;

namespace Runledger.Server.Auth;

/// <summary>
/// The HMAC key that signs and checks issued JWTs. It lives in the database so every node of a
/// PostgreSQL deployment accepts tokens issued by any other; loaded once at start.
/// </summary>
public sealed class SigningKey
{
    private SymmetricSecurityKey? _key;

    public SymmetricSecurityKey Key => _key ?? throw new InvalidOperationException("The JWT signing key is loaded at start-up; the server has not finished starting.");

    public void Load(string base64) => _key = new SymmetricSecurityKey(Convert.FromBase64String(base64)) { KeyId = "runledger-1" };
}
