using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Runledger.Server.Auth;

/// <summary>Generating secrets and the hashes stored in their place.</summary>
public static class Secrets
{
    private const int Pbkdf2Iterations = 100_000;

    /// <summary>A bearer token: <c>rl_</c> + 32 random bytes, base64url.</summary>
    public static string NewBearerToken() => "rl_" + Base64Url(RandomNumberGenerator.GetBytes(32));

    public static string NewClientId() => "rl-client-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    public static string NewClientSecret() => Base64Url(RandomNumberGenerator.GetBytes(32));

    /// <summary>Datadog API keys are 32 hex characters.</summary>
    public static string NewDatadogApiKey() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    /// <summary>Datadog application keys are 40 hex characters.</summary>
    public static string NewDatadogAppKey() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(20));

    public static string NewSigningKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(64));

    /// <summary>
    /// Lookup hash for secrets found by their value (tokens, Datadog keys). These are generated with
    /// 128+ bits of entropy, so a fast hash is safe; set your own only with comparable randomness.
    /// </summary>
    public static string LookupHash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    /// <summary>Slow salted hash for OAuth client secrets, which are looked up by client id.</summary>
    public static string HashClientSecret(string secret)
    {
        var salt = RandomNumberGenerator.GetBytes(16);
        var hash = Rfc2898DeriveBytes.Pbkdf2(secret, salt, Pbkdf2Iterations, HashAlgorithmName.SHA256, 32);
        return string.Create(CultureInfo.InvariantCulture, $"pbkdf2-sha256${Pbkdf2Iterations}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}");
    }

    public static bool VerifyClientSecret(string secret, string stored)
    {
        var parts = stored.Split('$');
        if (parts.Length != 4 || parts[0] != "pbkdf2-sha256" || !int.TryParse(parts[1], CultureInfo.InvariantCulture, out var iterations))
        {
            return false;
        }

        var salt = Convert.FromBase64String(parts[2]);
        var expected = Convert.FromBase64String(parts[3]);
        var actual = Rfc2898DeriveBytes.Pbkdf2(secret, salt, iterations, HashAlgorithmName.SHA256, expected.Length);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
