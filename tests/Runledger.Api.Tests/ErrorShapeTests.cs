using System.Net;
using Dapper;
using Runledger.Api.Tests.Support;
using Runledger.Storage;

namespace Runledger.Api.Tests;

/// <summary>Framework-level failures answer in the dialect's error shape, with the request id.</summary>
public abstract class ErrorShapeTests(ServerFixture fixture)
{
    private TestServer Server => fixture.Server;

    [Fact]
    public async Task AiApi_UnknownRoute_404InAiApiShape()
    {
        var response = await Server.Admin.GetAsync("/v2/lm/no-such-thing");
        var body = await response.ExpectAsync(HttpStatusCode.NotFound);
        Http.AssertJson(
            """{"error":{"code":"NotFound","message":"There is no resource at GET /v2/lm/no-such-thing; check the path against the API reference.","requestId":"{requestId}","target":"/no-such-thing"}}""",
            body, response.RequestId());
    }

    [Fact]
    public async Task AiApi_WrongMethod_405InAiApiShape()
    {
        var response = await Server.Admin.PutAsync("/v2/admin/resourceGroups", Http.Json("{}"));
        var body = await response.ExpectAsync(HttpStatusCode.MethodNotAllowed);
        Http.AssertJson(
            """{"error":{"code":"MethodNotAllowed","message":"PUT is not allowed on /v2/admin/resourceGroups; allowed: GET, POST.","requestId":"{requestId}","target":"/resourceGroups"}}""",
            body, response.RequestId());
    }

    [Fact]
    public async Task AiApi_MalformedJson_400NamesPosition()
    {
        var response = await Server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json("""{"resourceGroupId": "x" """));
        var body = await response.ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("MalformedBody", (string?)body["error"]!["code"]);
        Assert.StartsWith("The request body is not valid JSON for this operation at line 1", (string?)body["error"]!["message"], StringComparison.Ordinal);
        Assert.Equal(response.RequestId(), (string?)body["error"]!["requestId"]);
    }

    [Fact]
    public async Task AiApi_WrongFieldType_400NamesField()
    {
        var response = await Server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json("""{"resourceGroupId": 42}"""));
        var body = await response.ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Contains("(field '/resourceGroupId')", (string?)body["error"]!["message"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task AiApi_WrongContentType_415InAiApiShape()
    {
        var response = await Server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json("""{"resourceGroupId":"abc"}""", "text/plain"));
        var body = await response.ExpectAsync(HttpStatusCode.UnsupportedMediaType);
        Http.AssertJson(
            """{"error":{"code":"UnsupportedMediaType","message":"Content-Type 'text/plain' is not supported here; send the body as application/json.","requestId":"{requestId}","target":"/resourceGroups"}}""",
            body, response.RequestId());
    }

    [Fact]
    public async Task LlmObs_UnknownRoute_404InJsonApiShape()
    {
        var response = await Server.Datadog.GetAsync("/api/v2/llm-obs/v1/nothing-here");
        var body = await response.ExpectAsync(HttpStatusCode.NotFound);
        Http.AssertJson(
            """{"errors":[{"status":"404","title":"Not Found","detail":"There is no resource at GET /api/v2/llm-obs/v1/nothing-here; check the path against the API reference.","meta":{"code":"NotFound","request_id":"{requestId}"}}]}""",
            body, response.RequestId());
    }

    [Fact]
    public async Task LlmObs_WrongMethod_405InJsonApiShape()
    {
        var response = await Server.Datadog.DeleteAsync("/api/v2/llm-obs/v1/projects");
        var body = await response.ExpectAsync(HttpStatusCode.MethodNotAllowed);
        Assert.Equal("405", (string?)body["errors"]![0]!["status"]);
        Assert.Equal("DELETE is not allowed on /api/v2/llm-obs/v1/projects; allowed: GET, POST.", (string?)body["errors"]![0]!["detail"]);
    }

    [Fact]
    public async Task LlmObs_MalformedJson_400WithPointer()
    {
        var response = await Server.Datadog.PostAsync("/api/v2/llm-obs/v1/projects", Http.Json("""{"data": {"type": "projects", "attributes": {"name": }}}"""));
        var body = await response.ExpectAsync(HttpStatusCode.BadRequest);
        var error = body["errors"]![0]!;
        Assert.Equal("400", (string?)error["status"]);
        Assert.Equal("Bad Request", (string?)error["title"]);
        Assert.Equal("/data/attributes/name", (string?)error["source"]!["pointer"]);
    }

    [Fact]
    public async Task LlmObs_WrongContentType_415PointsAtHeader()
    {
        var response = await Server.Datadog.PostAsync("/api/v2/llm-obs/v1/projects", Http.Json("{}", "application/xml"));
        var body = await response.ExpectAsync(HttpStatusCode.UnsupportedMediaType);
        Http.AssertJson(
            """{"errors":[{"status":"415","title":"Unsupported Media Type","detail":"Content-Type 'application/xml' is not supported here; send the body as application/json or application/vnd.api+json.","source":{"header":"Content-Type"},"meta":{"code":"UnsupportedMediaType","request_id":"{requestId}"}}]}""",
            body, response.RequestId());
    }

    [Fact]
    public async Task AdminApi_UnknownJob_404AsProblemDetails()
    {
        var response = await Server.Admin.GetAsync("/runledger/v1/deletions/nope");
        var body = await response.ExpectAsync(HttpStatusCode.NotFound);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("There is no deletion job 'nope'.", (string?)body["detail"]);
        Assert.Equal(response.RequestId(), (string?)body["requestId"]);
    }
}

public sealed class ErrorShapeTestsOnSqlite(SqliteServer fixture) : ErrorShapeTests(fixture), IClassFixture<SqliteServer>;

public sealed class ErrorShapeTestsOnPostgres(PostgresServer fixture) : ErrorShapeTests(fixture), IClassFixture<PostgresServer>;

/// <summary>A failure inside a handler: 500 in the dialect's shape, request id, no stack trace; the id is in the log line.</summary>
public sealed class UnhandledErrorTests
{
    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task BrokenStore_500WithRequestIdAndNoStackTrace(Provider provider)
    {
        var log = new CapturingLoggerProvider();
        await using var server = await TestServer.StartAsync(
            provider,
            new Dictionary<string, string?> { ["Logging:LogLevel:Runledger"] = "Information" },
            services => services.AddSingleton<ILoggerProvider>(log));

        // Break the store underneath the server: the table the handler reads is gone.
        await using (var connection = await server.Service<IDatabase>().OpenAsync(CancellationToken.None))
        {
            await connection.ExecuteAsync("ALTER TABLE resource_groups RENAME TO resource_groups_gone");
        }

        var aiResponse = await server.Admin.GetAsync("/v2/admin/resourceGroups");
        var aiBody = await aiResponse.ExpectAsync(HttpStatusCode.InternalServerError);
        var requestId = aiResponse.RequestId();
        Http.AssertJson(
            """{"error":{"code":"InternalServerError","message":"The server failed to handle this request. Quote request id {requestId} when reporting it; the cause is in the server log under that id.","requestId":"{requestId}","target":"/resourceGroups"}}""",
            aiBody, requestId);
        Assert.DoesNotContain(" at ", aiBody.ToJsonString(), StringComparison.Ordinal);
        // The request's log line is written as the response completes, so it may trail the answer a little.
        await log.WaitForAsync(line => line.Contains("-> 500", StringComparison.Ordinal) && line.Contains(requestId, StringComparison.Ordinal));

        await using (var connection = await server.Service<IDatabase>().OpenAsync(CancellationToken.None))
        {
            await connection.ExecuteAsync("ALTER TABLE llm_projects RENAME TO llm_projects_gone");
        }

        var llmResponse = await server.Datadog.GetAsync("/api/v2/llm-obs/v1/projects");
        var llmBody = await llmResponse.ExpectAsync(HttpStatusCode.InternalServerError);
        Assert.Equal("500", (string?)llmBody["errors"]![0]!["status"]);
        Assert.Equal(llmResponse.RequestId(), (string?)llmBody["errors"]![0]!["meta"]!["request_id"]);
    }
}

internal sealed class CapturingLoggerProvider : ILoggerProvider
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public async Task WaitForAsync(Func<string, bool> match, int timeoutSeconds = 10)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        while (!_lines.Any(match))
        {
            Assert.False(timeout.IsCancellationRequested, "No matching log line was written:\n" + string.Join('\n', _lines));
            await Task.Delay(10, CancellationToken.None);
        }
    }

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerProvider owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._lines.Enqueue(formatter(state, exception));
    }
}

/// <summary>
/// The request log: refused and failed requests always get their line (with the id the error body
/// quotes); successful ones only when the operator asks for an access log (Debug).
/// </summary>
public sealed partial class RequestLogTests
{
    [Theory]
    [InlineData(Provider.Sqlite, false)]
    [InlineData(Provider.Postgres, false)]
    [InlineData(Provider.Sqlite, true)]
    public async Task FailedRequestsAlwaysLogged_SuccessfulOnesOnlyAtDebug(Provider provider, bool accessLog)
    {
        var log = new CapturingLoggerProvider();
        var settings = new Dictionary<string, string?> { ["Logging:LogLevel:Runledger"] = "Information" };
        if (accessLog)
        {
            settings["Logging:LogLevel:Runledger.Server.Hosting.RequestLogging"] = "Debug";
        }

        await using var server = await TestServer.StartAsync(provider, settings, services => services.AddSingleton<ILoggerProvider>(log));
        // The first request of a fresh server may take a second (JIT) and is then logged as slow.
        await (await server.Admin.GetAsync("/v2/admin/resourceGroups")).ExpectAsync(HttpStatusCode.OK);
        var ok = await server.Admin.GetAsync("/v2/admin/resourceGroups");
        await ok.ExpectAsync(HttpStatusCode.OK);
        var missing = await server.Admin.GetAsync("/v2/admin/resourceGroups/no-such-group");
        await missing.ExpectAsync(HttpStatusCode.NotFound);

        await log.WaitForAsync(line => line.Contains("GET /v2/admin/resourceGroups/no-such-group -> 404", StringComparison.Ordinal) && line.Contains(missing.RequestId(), StringComparison.Ordinal));
        if (accessLog)
        {
            await log.WaitForAsync(line => line.Contains("GET /v2/admin/resourceGroups -> 200", StringComparison.Ordinal) && line.Contains(ok.RequestId(), StringComparison.Ordinal));
        }
        else
        {
            // Unless it was slow (one second or more), which a loaded machine can make it.
            Assert.DoesNotContain(log.Lines, line => line.Contains(ok.RequestId(), StringComparison.Ordinal) && !SlowLine().IsMatch(line));
        }
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"-> 200 in [0-9]{4,}\.[0-9] ms")]
    private static partial System.Text.RegularExpressions.Regex SlowLine();
}
