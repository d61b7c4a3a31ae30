namespace Runledger.Api.Tests.Support;

/// <summary>Credentials every test server defines through the documented environment settings.</summary>
public static class TestCredentials
{
    public const string AdminToken = "rl_test-admin-token-0123456789abcdef";
    public const string ClientId = "test-client";
    public const string ClientSecret = "test-client-secret-0123456789";
    public const string DatadogApiKey = "0123456789abcdef0123456789abcdef";
    public const string DatadogAppKey = "0123456789abcdef0123456789abcdef01234567";

    public static Dictionary<string, string?> Settings() => new()
    {
        ["RUNLEDGER_ADMIN_TOKEN"] = AdminToken,
        ["RUNLEDGER_CLIENT_ID"] = ClientId,
        ["RUNLEDGER_CLIENT_SECRET"] = ClientSecret,
        ["RUNLEDGER_DD_API_KEY"] = DatadogApiKey,
        ["RUNLEDGER_DD_APP_KEY"] = DatadogAppKey,
    };
}
