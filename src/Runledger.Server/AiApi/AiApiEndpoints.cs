using Microsoft.Extensions.Options;
using Runledger.Server.AiApi.Configurations;
using Runledger.Server.AiApi.Executions;
using Runledger.Server.AiApi.Meta;
using Runledger.Server.AiApi.Metrics;
using Runledger.Server.AiApi.ResourceGroups;
using Runledger.Server.AiApi.Scenarios;
using Runledger.Server.Auth;
using Runledger.Server.Lifecycle;
using Runledger.Server.Runner;
using Runledger.Storage.Executions;
using Runledger.Storage.Metrics;
using Runledger.Storage.ResourceGroups;

namespace Runledger.Server.AiApi;

/// <summary>The AI API dialect: <c>/v2/admin/…</c> and <c>/v2/lm/…</c>.</summary>
public static class AiApiEndpoints
{
    public static IServiceCollection AddAiApi(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton<ICascadeRegistration, ResourceGroupCascade>();
        services.AddSingleton<ICascadeRegistration, ExecutionCascade>();
        services.AddSingleton<ICascadeRegistration, MetricCascade>();
        services.AddSingleton<ICascadeRegistration, AiApiRetention>();
        services.AddSingleton<IMetricStore, MetricStore>();
        services.AddSingleton<IConfigurationStore, ConfigurationStore>();
        services.AddSingleton<IExecutionStore, ExecutionStore>();
        services.AddSingleton<ExecutionCommands>();

        services.AddOptions<RunnerOptions>().Bind(configuration.GetSection(RunnerOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<RunnerOptions>, RunnerOptionsValidator>();
        services.AddSingleton<TemplateCatalog>();
        services.AddHostedService(sp => sp.GetRequiredService<TemplateCatalog>());
        services.AddSingleton<IExecutionRunner, LocalProcessRunner>();
        services.AddSingleton<RunnerSignal>();
        services.AddSingleton<ExecutionLogWriter>();
        services.AddHostedService(sp => sp.GetRequiredService<ExecutionLogWriter>());
        services.AddSingleton<ExecutionSupervisor>();
        services.AddHostedService(sp => sp.GetRequiredService<ExecutionSupervisor>());
        return services;
    }

    public static IEndpointRouteBuilder MapAiApi(this IEndpointRouteBuilder app)
    {
        var groups = app.ServiceProvider.GetRequiredService<IResourceGroupStore>();
        var admin = app.MapGroup("/v2/admin").RequireAuthorization(Policies.Admin);
        admin.MapResourceGroups();

        // Tenant-scoped: AI-Resource-Group is required and must name a live group.
        var scoped = app.MapGroup("/v2/lm").RequireAuthorization(Policies.AiApi).AddEndpointFilter(new ResourceGroupFilter(groups));
        scoped.MapScenarios();
        scoped.MapConfigurations();
        scoped.MapExecutions();
        scoped.MapMetrics();

        // The spec declares no AI-Resource-Group here; the SDK sends one anyway.
        var open = app.MapGroup("/v2/lm").RequireAuthorization(Policies.AiApi);
        open.MapMeta();
        open.AddEndpointFilter(new ResourceGroupFilter(groups, required: false)).MapExecutionLogs();
        return app;
    }
}
