using Microsoft.AspNetCore.Diagnostics;

namespace Runledger.Server.Hosting;

/// <summary>
/// Framework-level failures in the dialect's shape: unhandled exceptions (500, request id, no
/// stack trace), and bodiless error statuses the framework produces itself (unknown route 404,
/// wrong method 405, oversized body 413).
/// </summary>
internal static partial class ErrorPipeline
{
    public static IApplicationBuilder UseDialectErrors(this IApplicationBuilder app)
    {
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            ExceptionHandler = async context =>
            {
                var exception = context.Features.Get<IExceptionHandlerFeature>()?.Error;
                if (exception is BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge })
                {
                    await ErrorWriter.WriteAsync(context, JsonBody.TooLarge(context));
                    return;
                }

                if (exception is BadHttpRequestException bad)
                {
                    await ErrorWriter.WriteAsync(context, new ApiError(bad.StatusCode, "BadRequest", bad.Message));
                    return;
                }

                await ErrorWriter.WriteAsync(context, new ApiError(
                    StatusCodes.Status500InternalServerError,
                    "InternalServerError",
                    $"The server failed to handle this request. Quote request id {context.TraceIdentifier} when reporting it; the cause is in the server log under that id."));
            },
        });
        app.UseStatusCodePages(async statusContext =>
        {
            var context = statusContext.HttpContext;
            var status = context.Response.StatusCode;
            var error = status switch
            {
                StatusCodes.Status404NotFound => new ApiError(status, "NotFound", $"There is no resource at {context.Request.Method} {context.Request.Path}; check the path against the API reference."),
                StatusCodes.Status405MethodNotAllowed => new ApiError(status, "MethodNotAllowed", $"{context.Request.Method} is not allowed on {context.Request.Path}; allowed: {context.Response.Headers.Allow}."),
                StatusCodes.Status413PayloadTooLarge => JsonBody.TooLarge(context),
                StatusCodes.Status415UnsupportedMediaType => new ApiError(status, "UnsupportedMediaType", "This Content-Type is not supported here; send application/json."),
                _ => new ApiError(status, "Error", $"The request failed with status {status}."),
            };
            await ErrorWriter.WriteAsync(context, error);
        });
        return app;
    }
}
