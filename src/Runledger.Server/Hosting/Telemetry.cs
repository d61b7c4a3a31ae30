using Microsoft.Extensions.Options;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Runledger.Storage.Diagnostics;

namespace Runledger.Server.Hosting;

public sealed class TelemetryOptions
{
    public const string Section = "Telemetry";

    /// <summary>Serve the Prometheus scrape endpoint at <see cref="PrometheusPath"/>.</summary>
    public bool Prometheus { get; set; } = true;

    public string PrometheusPath { get; set; } = "/metrics";

    /// <summary>OTLP collector address (e.g. http://127.0.0.1:4317); metrics and traces are pushed there when set.</summary>
    public Uri? OtlpEndpoint { get; set; }

    /// <summary><c>grpc</c> (default) or <c>http/protobuf</c>.</summary>
    public string OtlpProtocol { get; set; } = "grpc";
}

internal sealed class TelemetryOptionsValidator : IValidateOptions<TelemetryOptions>
{
    public ValidateOptionsResult Validate(string? name, TelemetryOptions options)
    {
        var failures = new List<string>();
        if (!options.PrometheusPath.StartsWith('/') || options.PrometheusPath.StartsWith("/v2/", StringComparison.Ordinal) || options.PrometheusPath.StartsWith("/api/", StringComparison.Ordinal))
        {
            failures.Add($"Telemetry:PrometheusPath '{options.PrometheusPath}' must start with '/' and stay outside the dialects' /v2/ and /api/ prefixes.");
        }

        if (options.OtlpEndpoint is { IsAbsoluteUri: false } or { Scheme: not ("http" or "https") })
        {
            failures.Add($"Telemetry:OtlpEndpoint '{options.OtlpEndpoint}' must be an absolute http(s) URL such as http://127.0.0.1:4317.");
        }

        if (options.OtlpProtocol is not ("grpc" or "http/protobuf"))
        {
            failures.Add($"Telemetry:OtlpProtocol '{options.OtlpProtocol}' must be 'grpc' or 'http/protobuf'.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>
/// OpenTelemetry: ASP.NET Core, HttpClient, .NET runtime and Runledger's own instruments
/// (<see cref="RunledgerTelemetry"/>) to a Prometheus scrape endpoint and, when configured, OTLP;
/// traces only go to OTLP, so without a collector no request pays for spans.
/// </summary>
public static class Telemetry
{
    public static IServiceCollection AddRunledgerTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<TelemetryOptions>().Bind(configuration.GetSection(TelemetryOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<TelemetryOptions>, TelemetryOptionsValidator>();
        var options = configuration.GetSection(TelemetryOptions.Section).Get<TelemetryOptions>() ?? new TelemetryOptions();
        var otlp = options.OtlpEndpoint is { IsAbsoluteUri: true } endpoint && endpoint.Scheme is "http" or "https";

        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("runledger", serviceVersion: typeof(Telemetry).Assembly.GetName().Version?.ToString()))
            .WithMetrics(metrics =>
            {
                metrics.AddAspNetCoreInstrumentation().AddHttpClientInstrumentation().AddMeter("System.Runtime", RunledgerTelemetry.Name);
                if (options.Prometheus)
                {
                    metrics.AddPrometheusExporter();
                }

                if (otlp)
                {
                    metrics.AddOtlpExporter(o => Configure(o, options));
                }
            });
        if (otlp)
        {
            telemetry.WithTracing(tracing => tracing
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddSource(RunledgerTelemetry.Name)
                .AddOtlpExporter(o => Configure(o, options)));
        }

        return services;
    }

    public static IEndpointRouteBuilder MapRunledgerTelemetry(this IEndpointRouteBuilder app)
    {
        var options = app.ServiceProvider.GetRequiredService<IOptions<TelemetryOptions>>().Value;
        if (options.Prometheus)
        {
            app.MapPrometheusScrapingEndpoint(options.PrometheusPath).DisableRateLimiting();
        }

        return app;
    }

    private static void Configure(OtlpExporterOptions exporter, TelemetryOptions options)
    {
        exporter.Endpoint = options.OtlpEndpoint!;
        exporter.Protocol = options.OtlpProtocol == "grpc" ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
    }
}
