using Runledger.Server.Auth;
using Runledger.Server.Lifecycle;
using Runledger.Server.LlmObs.Events;
using Runledger.Server.LlmObs.Projects;
using Runledger.Storage.LlmObs;

namespace Runledger.Server.LlmObs.Experiments;

/// <summary>Experiments and their events: stores, cascade, and routes under v1, v2 and v3 of the dialect.</summary>
public static class ExperimentSetup
{
    public static IServiceCollection AddLlmObsExperiments(this IServiceCollection services)
    {
        services.AddSingleton<IExperimentStore, ExperimentStore>();
        services.AddSingleton<IExperimentEventStore, ExperimentEventStore>();
        services.AddSingleton<ICascadeRegistration, ExperimentCascade>();
        services.AddSingleton<ICascadeRegistration, LlmObsRetention>();
        services.AddSingleton<LlmObsHolds>();
        return services;
    }

    public static IEndpointRouteBuilder MapLlmObsExperiments(this IEndpointRouteBuilder app, RouteGroupBuilder v1)
    {
        v1.MapExperiments();
        EventEndpoints.MapExperimentEvents(
            v1,
            app.MapGroup("/api/v2/llm-obs/v2").RequireAuthorization(Policies.LlmObsRead),
            app.MapGroup("/api/v2/llm-obs/v3").RequireAuthorization(Policies.LlmObsRead));
        return app;
    }
}
