using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;
using Runledger.Server.Auth;

namespace Runledger.Server.Hosting;

/// <summary>
/// A fixed window per credential (per client address before authentication, e.g. /oauth/token).
/// 429 answers carry Datadog's <c>X-RateLimit-*</c> headers and <c>Retry-After</c> on every route.
/// </summary>
public static class RateLimiting
{
    public const string LimitName = "runledger-per-credential";

    public static IServiceCollection AddRunledgerRateLimiting(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<RateLimitOptions>().Bind(configuration.GetSection(RateLimitOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<RateLimitOptions>, RateLimitOptionsValidator>();
        services.AddRateLimiter(_ => { });
        services.AddSingleton<IConfigureOptions<RateLimiterOptions>, ConfigureLimiter>();
        return services;
    }

    private sealed class ConfigureLimiter(IOptions<RateLimitOptions> settings) : IConfigureOptions<RateLimiterOptions>
    {
        public void Configure(RateLimiterOptions options)
        {
            var limits = settings.Value;
            var window = TimeSpan.FromSeconds(limits.WindowSeconds);
            options.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
            {
                if (!limits.Enabled)
                {
                    return RateLimitPartition.GetNoLimiter("off");
                }

                var key = context.User.FindFirst(AuthClaims.CredentialId)?.Value is { } credential
                    ? "cred:" + credential
                    : "addr:" + context.Connection.RemoteIpAddress;
                return RateLimitPartition.GetFixedWindowLimiter(key, _ => new FixedWindowRateLimiterOptions
                {
                    PermitLimit = limits.PermitLimit,
                    Window = window,
                    QueueLimit = 0,
                    AutoReplenishment = true,
                });
            });
            options.OnRejected = async (rejected, _) =>
            {
                var context = rejected.HttpContext;
                var retryAfter = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : window;
                var resetSeconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
                var headers = context.Response.Headers;
                headers["X-RateLimit-Limit"] = limits.PermitLimit.ToString(CultureInfo.InvariantCulture);
                headers["X-RateLimit-Period"] = limits.WindowSeconds.ToString(CultureInfo.InvariantCulture);
                headers["X-RateLimit-Remaining"] = "0";
                headers["X-RateLimit-Reset"] = resetSeconds.ToString(CultureInfo.InvariantCulture);
                headers["X-RateLimit-Name"] = LimitName;
                headers.RetryAfter = resetSeconds.ToString(CultureInfo.InvariantCulture);
                await ErrorWriter.WriteAsync(context, new ApiError(
                    StatusCodes.Status429TooManyRequests,
                    "TooManyRequests",
                    $"Too many requests: this credential may make {limits.PermitLimit} requests per {limits.WindowSeconds} s; retry after {resetSeconds} s."));
            };
        }
    }
}
