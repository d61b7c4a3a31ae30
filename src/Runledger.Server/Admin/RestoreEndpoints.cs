using Microsoft.AspNetCore.Http.HttpResults;
using Runledger.Server.Auth;
using Runledger.Server.Hosting;
using Runledger.Server.Lifecycle;

namespace Runledger.Server.Admin;

/// <summary><c>POST /runledger/v1/deletions/{jobId}/restore</c>: undo a deletion within its grace period.</summary>
public static class RestoreEndpoints
{
    public static RouteGroupBuilder MapRestore(this RouteGroupBuilder group)
    {
        group.MapPost("/deletions/{jobId}/restore", RestoreAsync);
        return group;
    }

    public static async Task<Results<JsonHttpResult<JobDto>, ErrorResult>> RestoreAsync(string jobId, HttpContext context, DeletionRestorer restorer)
    {
        var result = await restorer.RestoreAsync(jobId, context.User.Actor(), context.RequestAborted);
        return result switch
        {
            RestoreResult.Restored restored => TypedResults.Json(JobDto.From(restored.Job), AdminJson.Default.JobDto),
            RestoreResult.Refused refused => new ApiError(StatusCodes.Status409Conflict, refused.Code, refused.Message).ToResult(),
            _ => ApiError.NotFound("JobNotFound", $"There is no deletion job '{jobId}'.").ToResult(),
        };
    }
}
