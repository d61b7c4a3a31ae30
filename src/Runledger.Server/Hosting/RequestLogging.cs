using System.Diagnostics;

namespace Runledger.Server.Hosting;

/// <summary>
/// Gives every request an id (echoed as <c>X-Request-Id</c>, used as <c>requestId</c> in error
/// bodies) and writes one log line per request that carries it.
/// </summary>
public sealed partial class RequestLogging(RequestDelegate next, ILogger<RequestLogging> logger)
{
    public const string Header = "X-Request-Id";

    public async Task InvokeAsync(HttpContext context)
    {
        var requestId = Guid.CreateVersion7().ToString("N");
        context.TraceIdentifier = requestId;
        context.Response.Headers[Header] = requestId;
        var started = Stopwatch.GetTimestamp();
        using (logger.BeginScope(new Dictionary<string, object> { ["RequestId"] = requestId }))
        {
            try
            {
                await next(context);
            }
            finally
            {
                LogRequest(logger, context.Request.Method, context.Request.Path, context.Response.StatusCode, Stopwatch.GetElapsedTime(started).TotalMilliseconds, requestId);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Method} {Path} -> {Status} in {ElapsedMs:0.0} ms [request {RequestId}]")]
    private static partial void LogRequest(ILogger logger, string method, string path, int status, double elapsedMs, string requestId);
}
