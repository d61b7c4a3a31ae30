using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Runledger.Storage.Migrations;

namespace Runledger.Server.Hosting;

/// <summary><c>/healthz</c>: the process answers. <c>/readyz</c>: the store answers and is fully migrated.</summary>
public static class Health
{
    public static IServiceCollection AddRunledgerHealth(this IServiceCollection services)
    {
        services.AddHealthChecks().AddCheck<StoreReadyCheck>("store", tags: ["ready"]);
        return services;
    }

    public static IEndpointRouteBuilder MapRunledgerHealth(this IEndpointRouteBuilder app)
    {
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false }).DisableRateLimiting();
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready") }).DisableRateLimiting();
        return app;
    }

    private sealed class StoreReadyCheck(MigrationRunner migrations) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            try
            {
                var current = await migrations.CurrentVersionAsync(cancellationToken);
                return current == migrations.LatestVersion
                    ? HealthCheckResult.Healthy($"schema version {current}")
                    : HealthCheckResult.Unhealthy($"schema version {current}, expected {migrations.LatestVersion}");
            }
            catch (Exception ex) when (ex is System.Data.Common.DbException or InvalidOperationException or TimeoutException)
            {
                return HealthCheckResult.Unhealthy("store unreachable", ex);
            }
        }
    }
}
