namespace Runledger.Server.Auth;

/// <summary>Why authentication failed, kept for the 401 message (handlers only know "challenge").</summary>
internal static class AuthFailure
{
    private const string Key = "runledger.auth-failure";

    public static void Set(HttpContext context, string reason) => context.Items[Key] = reason;

    public static string? Get(HttpContext context) => context.Items.TryGetValue(Key, out var value) ? value as string : null;
}
