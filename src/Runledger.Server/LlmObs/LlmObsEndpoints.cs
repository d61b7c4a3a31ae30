using Runledger.Server.Auth;
using Runledger.Server.LlmObs.Datasets;
using Runledger.Server.LlmObs.Experiments;
using Runledger.Server.LlmObs.Projects;
using Runledger.Storage.LlmObs;

namespace Runledger.Server.LlmObs;

/// <summary>The LLM Observability dialect under <c>/api/v2/llm-obs</c>: reads need the read scope, writes the write scope.</summary>
public static class LlmObsEndpoints
{
    public static IServiceCollection AddLlmObs(this IServiceCollection services)
    {
        services.AddSingleton<IProjectStore, ProjectStore>();
        services.AddDatasets();
        services.AddLlmObsExperiments();
        return services;
    }

    public static IEndpointRouteBuilder MapLlmObs(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/api/v2/llm-obs/v1").RequireAuthorization(Policies.LlmObsRead);
        v1.MapProjects();
        app.MapDatasets();
        app.MapLlmObsExperiments(v1);
        return app;
    }
}
