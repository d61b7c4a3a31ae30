using System.Diagnostics;

namespace Runledger.Server.Hosting;

/// <summary>
/// Gives every request an id (echoed as <c>X-Request-Id</c>, used as <c>requestId</c> in error
/// bodies) and writes one log line per request that carries it: at Information for a refused or
/// failed request (status 400 and above) or a slow one (one second or more), at Debug for the rest.
/// The console line costs about a third of the CPU of a small read (GET of one execution: 0.65 ms
/// with it, 0.41 ms without), so the access log of every request is opt-in:
/// <c>Logging:LogLevel:Runledger.Server.Hosting.RequestLogging=Debug</c>.
/// </summary>
public sealed partial class RequestLogging(RequestDelegate next, ILogger<RequestLogging> logger, Lifecycle.ForegroundTraffic traffic)
{
    public const string Header = "X-Request-Id";

    /// <summary>A request that takes this long is logged like a failed one.</summary>
    public const double SlowMilliseconds = 1000;

    public async Task InvokeAsync(HttpContext context)
    {
        traffic.Begin();
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
                var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                var status = context.Response.StatusCode;
                if (status >= 400 || elapsed >= SlowMilliseconds)
                {
                    LogNotable(logger, context.Request.Method, context.Request.Path, status, elapsed, requestId);
                }
                else
                {
                    LogRequest(logger, context.Request.Method, context.Request.Path, status, elapsed, requestId);
                }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Method} {Path} -> {Status} in {ElapsedMs:0.0} ms [request {RequestId}]")]
    private static partial void LogNotable(ILogger logger, string method, string path, int status, double elapsedMs, string requestId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Method} {Path} -> {Status} in {ElapsedMs:0.0} ms [request {RequestId}]")]
    private static partial void LogRequest(ILogger logger, string method, string path, int status, double elapsedMs, string requestId);
}
