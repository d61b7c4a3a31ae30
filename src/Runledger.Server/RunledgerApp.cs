using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Runledger.Server.Admin;
using Runledger.Server.AiApi;
using Runledger.Server.Auth;
using Runledger.Server.Hosting;
using Runledger.Server.Lifecycle;
using Runledger.Server.LlmObs;

namespace Runledger.Server;

/// <summary>The whole composition root. Tests build and start it in-process with their own configuration.</summary>
public static class RunledgerApp
{
    public const string DefaultUrl = "http://127.0.0.1:8080";

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args });
        builder.Configuration.AddCommandLine(args, new Dictionary<string, string>
        {
            ["--data-dir"] = "Storage:DataDir",
            ["--postgres"] = "Storage:Postgres",
            ["--provider"] = "Storage:Provider",
        });
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.AspNetCore.DataProtection", LogLevel.Error);
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            o.UseUtcTimestamp = true;
        });
        if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(builder.Configuration["ASPNETCORE_URLS"]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        configure?.Invoke(builder);

        var services = builder.Services;
        var configuration = builder.Configuration;
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<LimitsOptions>().Bind(configuration.GetSection(LimitsOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<LimitsOptions>, LimitsOptionsValidator>();
        services.AddSingleton<IConfigureOptions<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>, ConfigureKestrelLimits>();
        services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(15));

        // Order matters only for hosted services: StartupTasks (migrations) must run first.
        services.AddStorage(configuration);
        services.AddHostedService<StartupTasks>();
        services.AddHostedService<StoreMaintenance>();
        services.AddRunledgerAuth(configuration);
        services.AddRunledgerRateLimiting(configuration);
        services.AddRunledgerHealth();
        services.AddRunledgerTelemetry(configuration);
        services.AddLifecycle(configuration);
        services.AddAiApi(configuration);
        services.AddLlmObs();
        services.AddConsole();

        var app = builder.Build();
        app.UseMiddleware<RequestLogging>();
        app.UseDialectErrors();
        app.UseRouting();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();

        app.MapRunledgerHealth();
        app.MapRunledgerTelemetry();
        app.MapOAuth();
        app.MapAiApi();
        app.MapLlmObs();
        app.MapAdmin();
        app.MapConsole();
        return app;
    }

    /// <summary>
    /// Thread-pool threads started at once, without the pool's half-second ramp. Microsoft.Data.Sqlite
    /// is synchronous: a cascade batch or a WAL checkpoint holds its thread until SQLite returns, and
    /// with the default minimum (one per core) two of them left no thread for requests: reads queued
    /// for up to a second while the pool added threads (p99 541 ms during a cascade, 7.6 ms with 32).
    /// </summary>
    public const int MinimumThreads = 32;

    public static async Task<int> RunAsync(string[] args)
    {
        ThreadPool.GetMinThreads(out var workers, out var completionPorts);
        ThreadPool.SetMinThreads(Math.Max(workers, MinimumThreads), completionPorts);
        WebApplication? app = null;
        try
        {
            app = Build(args);
            await app.RunAsync();
            return 0;
        }
        catch (OptionsValidationException ex)
        {
            await Console.Error.WriteLineAsync($"Runledger cannot start: invalid configuration.{Environment.NewLine}  {string.Join(Environment.NewLine + "  ", ex.Failures)}");
            return 2;
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or IOException or InvalidOperationException or TimeoutException)
        {
            await Console.Error.WriteLineAsync($"Runledger cannot start: {ex.GetType().Name}: {ex.Message}");
            return 1;
        }
        finally
        {
            if (app is not null)
            {
                await app.DisposeAsync();
            }
        }
    }

    private sealed class ConfigureKestrelLimits(IOptions<LimitsOptions> limits) : IConfigureOptions<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>
    {
        public void Configure(Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions options) =>
            options.Limits.MaxRequestBodySize = limits.Value.MaxRequestBodyBytes;
    }
}
