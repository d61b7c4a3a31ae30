using Microsoft.AspNetCore.WebUtilities;
using Runledger.Server.AiApi;
using Runledger.Server.LlmObs;

namespace Runledger.Server.Hosting;

/// <summary>
/// One internal error value for every failure, rendered in the shape of the dialect the request
/// belongs to: AI API <c>{"error":{…}}</c>, LLM Obs JSON:API <c>{"errors":[…]}</c>, or ProblemDetails.
/// </summary>
public sealed record ApiError(int Status, string Code, string Message)
{
    /// <summary>JSON pointer into the request body (JSON:API <c>source.pointer</c>).</summary>
    public string? SourcePointer { get; init; }

    /// <summary>Query parameter at fault (JSON:API <c>source.parameter</c>).</summary>
    public string? Parameter { get; init; }

    /// <summary>Request header at fault (JSON:API <c>source.header</c>).</summary>
    public string? Header { get; init; }

    /// <summary>AI API <c>details</c> array entries (the tracking API's error shape).</summary>
    public IReadOnlyList<ApiErrorDetail>? Details { get; init; }

    /// <summary>Overrides the AI API <c>target</c> (default: the invoked path below /v2/lm or /v2/admin).</summary>
    public string? Target { get; init; }

    public static ApiError BadRequest(string code, string message) => new(StatusCodes.Status400BadRequest, code, message);

    public static ApiError NotFound(string code, string message) => new(StatusCodes.Status404NotFound, code, message);

    public ErrorResult ToResult() => new(this);
}

public sealed record ApiErrorDetail(string Code, string Message);

/// <summary>The API dialect a request path belongs to; decides the error shape.</summary>
public enum Dialect
{
    None,
    AiApi,
    LlmObs,
}

public static class Dialects
{
    public static Dialect Of(PathString path) =>
        path.StartsWithSegments("/v2", StringComparison.OrdinalIgnoreCase) ? Dialect.AiApi
        : path.StartsWithSegments("/api/v2/llm-obs", StringComparison.OrdinalIgnoreCase) ? Dialect.LlmObs
        : Dialect.None;
}

/// <summary>An <see cref="IResult"/> that writes an <see cref="ApiError"/> in the request's dialect.</summary>
public sealed class ErrorResult(ApiError error) : IResult
{
    public ApiError Error { get; } = error;

    public Task ExecuteAsync(HttpContext httpContext) => ErrorWriter.WriteAsync(httpContext, Error);
}

public static class ErrorWriter
{
    public static Task WriteAsync(HttpContext context, ApiError error)
    {
        if (context.Response.HasStarted)
        {
            return Task.CompletedTask;
        }

        context.Response.StatusCode = error.Status;

        // The exception handler clears headers before it writes: put the request id back.
        context.Response.Headers[RequestLogging.Header] = context.TraceIdentifier;
        return Dialects.Of(context.Request.Path) switch
        {
            Dialect.AiApi => AiApiError.WriteAsync(context, error),
            Dialect.LlmObs => LlmObsError.WriteAsync(context, error),
            _ => WriteProblemAsync(context, error),
        };
    }

    private static Task WriteProblemAsync(HttpContext context, ApiError error)
    {
        var problem = TypedResults.Problem(
            detail: error.Message,
            statusCode: error.Status,
            title: ReasonPhrases.GetReasonPhrase(error.Status),
            extensions: new Dictionary<string, object?> { ["code"] = error.Code, ["requestId"] = context.TraceIdentifier });
        return problem.ExecuteAsync(context);
    }
}
