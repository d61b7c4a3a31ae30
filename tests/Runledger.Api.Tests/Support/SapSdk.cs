using System.Text.Json.Nodes;

namespace Runledger.Api.Tests.Support;

/// <summary>
/// Runs a flow script of tests/interop/sap-ai-sdk (the official <c>@sap-ai-sdk/ai-api</c> client,
/// installed by <c>./test.sh</c> with <c>npm ci</c>) against a test server.
/// </summary>
public static class SapSdk
{
    /// <summary>
    /// Runs <paramref name="script"/> with a service key for <paramref name="server"/> in
    /// <c>AICORE_SERVICE_KEY</c>, fails unless it exits 0, and returns the JSON object it printed last.
    /// </summary>
    public static async Task<JsonNode> RunFlowAsync(TestServer server, string script, IDictionary<string, string> environment)
    {
        var folder = Path.Combine(NodeScript.RepoRoot(), "tests", "interop", "sap-ai-sdk");
        Assert.True(
            Directory.Exists(Path.Combine(folder, "node_modules", "@sap-ai-sdk", "ai-api")),
            $"The SDK is not installed in {folder}: run 'npm ci --prefix tests/interop/sap-ai-sdk' (./test.sh does).");

        // A service key as SAP issues it: the SDK takes the token URL from "url" and the API from AI_API_URL.
        var origin = server.BaseAddress.GetLeftPart(UriPartial.Authority);
        var serviceKey = new JsonObject
        {
            ["clientid"] = TestCredentials.ClientId,
            ["clientsecret"] = TestCredentials.ClientSecret,
            ["url"] = origin,
            ["serviceurls"] = new JsonObject { ["AI_API_URL"] = origin },
        };
        var variables = new Dictionary<string, string>(environment) { ["AICORE_SERVICE_KEY"] = serviceKey.ToJsonString() };

        // The SDK's token request has a fixed 2 s timeout (@sap/xssec's default; the SDK then caches the
        // token). Fetch one first so a fresh server's first-call costs are not paid inside it on a busy machine.
        await AuthTests.IssueTokenAsync(server.Anonymous);
        var result = await NodeScript.RunAsync(folder, script, variables);
        Assert.True(result.ExitCode == 0, $"The SDK flow {script} failed: {result}");

        // The result is the last line; anything the SDK's own logger printed comes before it.
        var last = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
        Assert.True(last is not null, $"The SDK flow {script} printed nothing: {result}");
        return JsonNode.Parse(last) ?? throw new InvalidOperationException($"The SDK flow {script} printed 'null': {result}");
    }
}
