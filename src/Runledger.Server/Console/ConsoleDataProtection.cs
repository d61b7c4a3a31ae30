using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.DataProtection;
using Runledger.Server.Auth;

// The folder is Console/, but a namespace named Console would hide System.Console in Runledger.Server.
namespace Runledger.Server.WebConsole;

/// <summary>
/// Protects the console's cookies (session ticket, antiforgery token) with keys derived from the
/// server's JWT signing key, which lives in the database: every node of a PostgreSQL deployment
/// derives the same keys, so a session started on one node is accepted by all, with no key ring to
/// share or rotate. Each purpose chain gets its own AES-GCM key (HMAC-SHA256 of the chain).
/// </summary>
internal sealed class ConsoleDataProtectionProvider(SigningKey signingKey) : IDataProtectionProvider
{
    public IDataProtector CreateProtector(string purpose) => new Protector(signingKey, [purpose]);

    private sealed class Protector(SigningKey signingKey, string[] purposes) : IDataProtector
    {
        private const byte Version = 1;
        private const int NonceSize = 12;
        private const int TagSize = 16;
        private byte[]? _key;

        public IDataProtector CreateProtector(string purpose) => new Protector(signingKey, [.. purposes, purpose]);

        public byte[] Protect(byte[] plaintext)
        {
            var output = new byte[1 + NonceSize + TagSize + plaintext.Length];
            output[0] = Version;
            var nonce = output.AsSpan(1, NonceSize);
            RandomNumberGenerator.Fill(nonce);
            using var aes = new AesGcm(Key(), TagSize);
            aes.Encrypt(nonce, plaintext, output.AsSpan(1 + NonceSize + TagSize), output.AsSpan(1 + NonceSize, TagSize));
            return output;
        }

        public byte[] Unprotect(byte[] protectedData)
        {
            if (protectedData.Length < 1 + NonceSize + TagSize || protectedData[0] != Version)
            {
                throw new CryptographicException("The payload was not protected by this server.");
            }

            var plaintext = new byte[protectedData.Length - 1 - NonceSize - TagSize];
            using var aes = new AesGcm(Key(), TagSize);
            aes.Decrypt(protectedData.AsSpan(1, NonceSize), protectedData.AsSpan(1 + NonceSize + TagSize), protectedData.AsSpan(1 + NonceSize, TagSize), plaintext);
            return plaintext;
        }

        // Derived on first use: the signing key is loaded by the start-up tasks, after DI is built.
        private byte[] Key() => _key ??= HMACSHA256.HashData(
            signingKey.Key.Key,
            Encoding.UTF8.GetBytes("runledger-console\u001f" + string.Join('\u001f', purposes)));
    }
}
