using Runledger.Server.LlmObs.Datasets;
using Runledger.Server.LlmObs.Events;
using Runledger.Server.LlmObs.Experiments;
using Runledger.Server.LlmObs.Projects;
using Runledger.Server.LlmObs.Records;

namespace Runledger.Server.WebConsole;

/// <summary>
/// LLM Observability pages: the dialect's own read handlers, mounted under <c>/ui/api/llm-obs/v1</c>
/// behind the console session (the session carries the same organisation and scope claims a
/// Datadog key pair does). Answers keep the JSON:API shape; errors are ProblemDetails here.
/// Experiment delete and restore go through <c>/ui/api/deletions</c> with a preview.
/// </summary>
public static class ConsoleLlmObsEndpoints
{
    public static RouteGroupBuilder MapConsoleLlmObs(this RouteGroupBuilder api)
    {
        var v1 = api.MapGroup("/llm-obs/v1").RequireAuthorization(ConsoleAuth.LlmRead);
        v1.MapGet("/projects", ProjectEndpoints.ListAsync);
        v1.MapGet("/{projectId}/datasets", DatasetEndpoints.ListAsync);
        v1.MapGet("/{projectId}/datasets/{datasetId}/versions", DatasetEndpoints.ListVersionsAsync);
        v1.MapGet("/{projectId}/datasets/{datasetId}/records", RecordEndpoints.ListAsync);
        v1.MapGet("/{projectId}/datasets/{datasetId}/export", RecordTransfer.ExportAsync);
        v1.MapGet("/experiments", ExperimentEndpoints.ListAsync);
        v1.MapGet("/experiments/{experimentId}/events", EventEndpoints.ListV2Async);
        return api;
    }
}
