using Microsoft.Extensions.Options;
using Runledger.Server.Hosting;

namespace Runledger.Server.Lifecycle;

public static class LifecycleExtensions
{
    public static IServiceCollection AddLifecycle(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<LifecycleOptions>().Bind(configuration.GetSection(LifecycleOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<LifecycleOptions>, LifecycleOptionsValidator>();
        services.AddSingleton<CascadeRegistry>();
        services.AddSingleton<JobSignal>();
        services.AddSingleton<DeletionScheduler>();
        services.AddSingleton<DeletionWorker>();
        services.AddHostedService(sp => sp.GetRequiredService<DeletionWorker>());
        return services;
    }
}
