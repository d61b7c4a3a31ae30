using System.Net;
using System.Text.Json.Nodes;

namespace Runledger.Api.Tests.Support;

/// <summary>Workflow templates for tests: small shell commands that finish, fail, or run until stopped.</summary>
public static class Templates
{
    public const string Scenario = "test-scenario";

    /// <summary>Prints to stdout and stderr, then exits with the <c>code</c> parameter.</summary>
    public const string Quick = "quick-exec";

    /// <summary>Runs until SIGTERM, then says so and exits 0.</summary>
    public const string Sleeper = "sleeper-exec";

    /// <summary>Ignores SIGTERM: only the SIGKILL after the grace ends it.</summary>
    public const string Stubborn = "stubborn-exec";

    /// <summary>Its binary does not exist.</summary>
    public const string Missing = "missing-exec";

    /// <summary>Prints what the process is given: its id, group, URL, token, and whether server secrets leaked.</summary>
    public const string Environment = "env-exec";

    public static string CreateDirectory()
    {
        var dir = Path.Combine(Path.GetTempPath(), "runledger-tests", "templates-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        Write(dir, "quick.yaml", Quick, """
              parameters:
                - name: who
                  type: string
                  default: world
                - name: code
                  type: string
                  default: "0"
              command: ["sh", "-c", "echo hello {{parameters.who}}; echo oops >&2; exit {{parameters.code}}"]
            """);
        Write(dir, "sleeper.yaml", Sleeper, """
              command: ["sh", "-c", "trap 'echo got TERM; exit 0' TERM; echo started; while true; do echo tick > /dev/null; sleep 0.1; done"]
            """);
        Write(dir, "stubborn.yaml", Stubborn, """
              command: ["sh", "-c", "trap '' TERM; echo started; while true; do sleep 0.1; done"]
            """);
        Write(dir, "missing.yaml", Missing, """
              command: ["/nonexistent/bin/trainer"]
            """);
        Write(dir, "env.yaml", Environment, """
              command: ["sh", "-c", "echo id=$RUNLEDGER_EXECUTION_ID; echo rg=$RUNLEDGER_RESOURCE_GROUP; echo url=$RUNLEDGER_URL; echo token=$RUNLEDGER_TOKEN; echo admin=${RUNLEDGER_ADMIN_TOKEN:-none}"]
            """);
        return dir;
    }

    public static void Write(string dir, string file, string executableId, string executableBody, string scenario = Scenario) =>
        File.WriteAllText(Path.Combine(dir, file), $"""
            scenario:
              id: {scenario}
              name: Test scenario
            executable:
              id: {executableId}
              name: {executableId}
              version: "1.0"
            {executableBody}
            """);

    public static HttpClient InGroup(this TestServer server, string resourceGroup = "default")
    {
        var client = server.NewClient(TestCredentials.AdminToken);
        client.DefaultRequestHeaders.Add("AI-Resource-Group", resourceGroup);
        return client;
    }

    public static async Task<string> CreateConfigurationAsync(this HttpClient client, string executableId, string bindings = "[]")
    {
        var response = await client.PostAsync("/v2/lm/configurations", Http.Json(
            "{\"name\":\"cfg-" + executableId + "\",\"scenarioId\":\"" + Scenario + "\",\"executableId\":\"" + executableId + "\",\"parameterBindings\":" + bindings + "}"));
        return (string)(await response.ExpectAsync(HttpStatusCode.Created))["id"]!;
    }

    public static async Task<string> StartExecutionAsync(this HttpClient client, string configurationId)
    {
        var response = await client.PostAsync("/v2/lm/executions", Http.Json("{\"configurationId\":\"" + configurationId + "\"}"));
        return (string)(await response.ExpectAsync(HttpStatusCode.Accepted))["id"]!;
    }

    /// <summary>Polls GET /v2/lm/executions/{id} until it has <paramref name="status"/>, within a timeout.</summary>
    public static async Task<JsonNode> WaitForStatusAsync(this HttpClient client, string executionId, string status, int timeoutSeconds = 60)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        JsonNode? last = null;
        while (!timeout.IsCancellationRequested)
        {
            last = await (await client.GetAsync($"/v2/lm/executions/{executionId}", timeout.Token)).ExpectAsync(HttpStatusCode.OK);
            if ((string?)last["status"] == status)
            {
                return last;
            }

            await Task.Delay(25, CancellationToken.None);
        }

        throw new TimeoutException($"Execution {executionId} did not become {status} within {timeoutSeconds} s; last seen: {last}");
    }

    public static async Task<List<string>> LogMessagesAsync(this HttpClient client, string executionId)
    {
        var body = await (await client.GetAsync($"/v2/lm/executions/{executionId}/logs")).ExpectAsync(HttpStatusCode.OK);
        return body["data"]!["result"]!.AsArray().Select(l => (string)l!["msg"]!).ToList();
    }
}

/// <summary>A server with the test templates and a quick runner.</summary>
public abstract class RunnerServer(Provider provider) : ServerFixture(provider)
{
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Runner:TemplatesDir"] = Templates.CreateDirectory(),
        ["Runner:PollSeconds"] = "0.1",
        ["Runner:StopGraceSeconds"] = "1",
    };
}

public sealed class SqliteRunnerServer() : RunnerServer(Provider.Sqlite);

public sealed class PostgresRunnerServer() : RunnerServer(Provider.Postgres);
