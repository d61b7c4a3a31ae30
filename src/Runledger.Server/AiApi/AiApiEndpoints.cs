using Runledger.Server.AiApi.ResourceGroups;
using Runledger.Server.Auth;
using Runledger.Server.Lifecycle;

namespace Runledger.Server.AiApi;

/// <summary>The AI API dialect: <c>/v2/admin/…</c> and <c>/v2/lm/…</c>.</summary>
public static class AiApiEndpoints
{
    public static IServiceCollection AddAiApi(this IServiceCollection services)
    {
        services.AddSingleton<ICascadeRegistration, ResourceGroupCascade>();
        return services;
    }

    public static IEndpointRouteBuilder MapAiApi(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/v2/admin").RequireAuthorization(Policies.Admin);
        admin.MapResourceGroups();
        return app;
    }
}
