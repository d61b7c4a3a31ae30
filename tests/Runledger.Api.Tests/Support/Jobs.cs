using System.Net;
using System.Text.Json.Nodes;

namespace Runledger.Api.Tests.Support;

public static class Jobs
{
    /// <summary>Follows a deletion job through the admin API until it is done (or failed), within a timeout.</summary>
    public static async Task<JsonNode> WaitForJobAsync(this TestServer server, string jobId, string state = "done", int timeoutSeconds = 60) =>
        await WaitForJobAsync(server.Admin, jobId, state, timeoutSeconds);

    public static async Task<JsonNode> WaitForJobAsync(HttpClient admin, string jobId, string state = "done", int timeoutSeconds = 60)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        JsonNode? last = null;
        while (!timeout.IsCancellationRequested)
        {
            var response = await admin.GetAsync($"/runledger/v1/deletions/{jobId}", timeout.Token);
            last = await response.ExpectAsync(HttpStatusCode.OK);
            var current = (string?)last["state"];
            if (current == state)
            {
                return last;
            }

            Assert.False(current == "failed" && state != "failed", $"Job {jobId} failed: {last}");
            await Task.Delay(20, timeout.Token).ContinueWith(_ => { }, TaskScheduler.Default);
        }

        throw new TimeoutException($"Job {jobId} did not reach '{state}' within {timeoutSeconds} s; last seen: {last}");
    }

    public static string JobId(this HttpResponseMessage response) => response.Headers.GetValues("Runledger-Deletion-Job").Single();
}
