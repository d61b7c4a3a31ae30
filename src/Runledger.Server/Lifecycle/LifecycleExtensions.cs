using Microsoft.Extensions.Options;
using Runledger.Server.Hosting;
using Runledger.Storage.Lifecycle;

namespace Runledger.Server.Lifecycle;

public static class LifecycleExtensions
{
    public static IServiceCollection AddLifecycle(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<LifecycleOptions>().Bind(configuration.GetSection(LifecycleOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<LifecycleOptions>, LifecycleOptionsValidator>();
        services.AddOptions<GraceOptions>().Configure(o => GracePeriods.Bind(o, configuration)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<GraceOptions>, GraceOptionsValidator>();
        services.AddSingleton<GracePeriods>();
        services.AddSingleton<CascadeRegistry>();
        services.AddSingleton<JobSignal>();
        services.AddSingleton<ForegroundTraffic>();
        services.AddSingleton<CascadePacer>();
        services.AddSingleton<DeletionScheduler>();
        services.AddSingleton<DeletionRestorer>();
        services.AddSingleton<DeletionPreviewer>();
        services.AddSingleton<IHoldStore, HoldStore>();
        services.AddSingleton<HoldChecker>();
        services.AddSingleton<LegalHolds>();
        services.AddOptions<RetentionOptions>().Bind(configuration.GetSection(RetentionOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<RetentionOptions>, RetentionOptionsValidator>();
        services.AddSingleton<IRetentionPolicyStore, RetentionPolicyStore>();
        services.AddSingleton<RetentionRunner>();
        services.AddHostedService<RetentionService>();
        services.AddSingleton<DeletionWorker>();
        services.AddHostedService(sp => sp.GetRequiredService<DeletionWorker>());
        return services;
    }
}
