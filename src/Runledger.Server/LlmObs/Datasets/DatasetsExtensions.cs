using Microsoft.Extensions.Options;
using Runledger.Server.Auth;
using Runledger.Server.Lifecycle;
using Runledger.Server.LlmObs.Projects;
using Runledger.Server.LlmObs.Records;
using Runledger.Storage.LlmObs;

namespace Runledger.Server.LlmObs.Datasets;

/// <summary>Projects deletion, datasets and their records: services and routes.</summary>
public static class DatasetsExtensions
{
    public static IServiceCollection AddDatasets(this IServiceCollection services)
    {
        services.AddOptions<DatasetOptions>().BindConfiguration(DatasetOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<DatasetOptions>, DatasetOptionsValidator>();
        services.AddSingleton<IDatasetStore, DatasetStore>();
        services.AddSingleton<IRecordStore, RecordStore>();
        services.AddSingleton<RecordListCache>();
        services.AddSingleton<ICascadeRegistration, ProjectCascade>();
        services.AddSingleton<ICascadeRegistration, DatasetCascade>();
        return services;
    }

    public static IEndpointRouteBuilder MapDatasets(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/api/v2/llm-obs/v1").RequireAuthorization(Policies.LlmObsRead);
        v1.MapProjectDeletion();
        v1.MapDatasets();
        v1.MapDatasetDeletion();
        v1.MapRecords();
        v1.MapRecordExport();
        var v2 = app.MapGroup("/api/v2/llm-obs/v2").RequireAuthorization(Policies.LlmObsRead);
        v2.MapRecordUpload();
        return app;
    }
}
