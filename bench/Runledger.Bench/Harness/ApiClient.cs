using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Runledger.Bench.Harness;

/// <summary>
/// The requests the scenarios time, one client, one kept-alive connection. Each call returns the
/// time from sending to the whole response read, and checks the answer only after the clock stopped.
/// </summary>
internal sealed class ApiClient : IDisposable
{
    public const string ResourceGroupHeader = "AI-Resource-Group";
    private static readonly MediaTypeHeaderValue MergePatch = new("application/merge-patch+json");
    private readonly HttpClient _http;

    public ApiClient(Uri baseAddress, string adminToken)
    {
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10),
            UseCookies = false,
        };
        _http = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", adminToken);
    }

    /// <summary>A request of the AI API to <paramref name="path"/> in a resource group, with a merge-patch body if given.</summary>
    private static HttpRequestMessage NewRequest(HttpMethod method, string path, string resourceGroup, byte[]? mergePatchBody = null)
    {
        var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative));
        request.Headers.Add(ResourceGroupHeader, resourceGroup);
        if (mergePatchBody is not null)
        {
            request.Content = new ByteArrayContent(mergePatchBody);
            request.Content.Headers.ContentType = MergePatch;
        }

        return request;
    }

    /// <summary>Sends and times until the response headers arrived; the caller checks the answer after the clock stopped.</summary>
    private async Task<(HttpResponseMessage Response, TimeSpan Elapsed)> SendTimedAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var response = await _http.SendAsync(request, cancellationToken);
        return (response, Stopwatch.GetElapsedTime(started));
    }

    /// <summary><c>DELETE /v2/lm/executions/{id}</c>: must answer 202 with "Deletion scheduled".</summary>
    public async Task<TimeSpan> DeleteExecutionAsync(string resourceGroup, string id, CancellationToken cancellationToken)
    {
        using var request = NewRequest(HttpMethod.Delete, $"/v2/lm/executions/{id}", resourceGroup);
        var (response, elapsed) = await SendTimedAsync(request, cancellationToken);
        using var disposeResponse = response;

        using var body = await ExpectAsync(response, HttpStatusCode.Accepted, request, cancellationToken);
        if (body.RootElement.GetProperty("message").GetString() != "Deletion scheduled")
        {
            throw new BenchCheckException($"DELETE of execution {id} answered 202 without \"Deletion scheduled\": {body.RootElement}");
        }

        return elapsed;
    }

    /// <summary><c>PATCH /v2/lm/metrics</c> with a prepared body: must answer 204.</summary>
    public async Task<TimeSpan> PatchMetricsAsync(string resourceGroup, byte[] body, CancellationToken cancellationToken)
    {
        using var request = NewRequest(HttpMethod.Patch, "/v2/lm/metrics", resourceGroup, body);
        var (response, elapsed) = await SendTimedAsync(request, cancellationToken);
        using var disposeResponse = response;
        if (response.StatusCode != HttpStatusCode.NoContent)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new BenchCheckException($"PATCH /v2/lm/metrics answered {(int)response.StatusCode}, expected 204: {text}");
        }

        return elapsed;
    }

    /// <summary><c>DELETE /v2/lm/metrics?executionId=…</c>: must answer 200 with "Metric Resource was successfully deleted".</summary>
    public async Task<TimeSpan> DeleteMetricsAsync(string resourceGroup, string executionId, CancellationToken cancellationToken)
    {
        using var request = NewRequest(HttpMethod.Delete, $"/v2/lm/metrics?executionId={executionId}", resourceGroup);
        var (response, elapsed) = await SendTimedAsync(request, cancellationToken);
        using var disposeResponse = response;
        using var body = await ExpectAsync(response, HttpStatusCode.OK, request, cancellationToken);
        if (body.RootElement.GetProperty("message").GetString() != "Metric Resource was successfully deleted")
        {
            throw new BenchCheckException($"DELETE of metrics of {executionId} answered 200 without the expected message: {body.RootElement}");
        }

        return elapsed;
    }

    /// <summary><c>GET /v2/lm/metrics?executionIds=…</c>: returns the time and how many points came back.</summary>
    public async Task<(TimeSpan Elapsed, int Points)> GetMetricsAsync(string resourceGroup, string executionId, CancellationToken cancellationToken)
    {
        using var request = NewRequest(HttpMethod.Get, $"/v2/lm/metrics?executionIds={executionId}", resourceGroup);
        var started = Stopwatch.GetTimestamp();
        using var response = await _http.SendAsync(request, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        var elapsed = Stopwatch.GetElapsedTime(started);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new BenchCheckException($"GET /v2/lm/metrics answered {(int)response.StatusCode}: {text}");
        }

        using var document = JsonDocument.Parse(text);
        var resources = document.RootElement.GetProperty("resources");
        return (elapsed, resources.GetArrayLength() == 0 ? 0 : resources[0].GetProperty("metrics").GetArrayLength());
    }

    /// <summary>
    /// <c>PATCH /v2/lm/executions</c> (merge-patch) with a prepared body: must answer 202 with one
    /// result per item, each "Execution modification scheduled".
    /// </summary>
    public async Task<TimeSpan> BulkModifyExecutionsAsync(string resourceGroup, byte[] body, IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        using var request = NewRequest(HttpMethod.Patch, "/v2/lm/executions", resourceGroup, body);
        var (response, elapsed) = await SendTimedAsync(request, cancellationToken);
        using var disposeResponse = response;

        using var document = await ExpectAsync(response, HttpStatusCode.Accepted, request, cancellationToken);
        var results = document.RootElement.GetProperty("executions");
        if (results.GetArrayLength() != ids.Count)
        {
            throw new BenchCheckException($"Bulk PATCH of {ids.Count} executions answered {results.GetArrayLength()} results.");
        }

        var index = 0;
        foreach (var item in results.EnumerateArray())
        {
            var id = item.GetProperty("id").GetString();
            if (id != ids[index] || !item.TryGetProperty("message", out var message) || message.GetString() != "Execution modification scheduled")
            {
                throw new BenchCheckException($"Bulk PATCH item {index} (execution {ids[index]}) was not scheduled: {item}");
            }

            index++;
        }

        return elapsed;
    }

    /// <summary>How many deletion jobs are in <paramref name="state"/> (at most <paramref name="limit"/>).</summary>
    public async Task<int> CountDeletionJobsAsync(string state, int limit, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"/runledger/v1/deletions?state={state}&limit={limit}", UriKind.Relative));
        using var response = await _http.SendAsync(request, cancellationToken);
        using var body = await ExpectAsync(response, HttpStatusCode.OK, request, cancellationToken);
        return body.RootElement.GetProperty("jobs").GetArrayLength();
    }

    /// <summary>
    /// Polls the job lists until nothing is <c>queued</c> or <c>running</c>; returns how long that
    /// took (to within the poll interval). Fails if any job ended <c>failed</c>.
    /// </summary>
    public async Task<TimeSpan> WaitForDeletionJobsAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            var queued = await CountDeletionJobsAsync("queued", 1, cancellationToken);
            var running = queued == 0 ? await CountDeletionJobsAsync("running", 1, cancellationToken) : 1;
            if (queued == 0 && running == 0)
            {
                var elapsed = Stopwatch.GetElapsedTime(started);
                var failed = await CountDeletionJobsAsync("failed", 1000, cancellationToken);
                return failed == 0 ? elapsed : throw new BenchCheckException($"{failed} deletion jobs ended in state failed (GET /runledger/v1/deletions?state=failed).");
            }

            if (Stopwatch.GetElapsedTime(started) > timeout)
            {
                throw new TimeoutException($"Deletion jobs were still queued or running after {timeout.TotalSeconds:0} s.");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), cancellationToken);
        }
    }

    public void Dispose() => _http.Dispose();

    private static async Task<JsonDocument> ExpectAsync(HttpResponseMessage response, HttpStatusCode expected, HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (response.StatusCode != expected)
        {
            throw new BenchCheckException($"{request.Method} {request.RequestUri} answered {(int)response.StatusCode}, expected {(int)expected}: {text}");
        }

        return JsonDocument.Parse(text);
    }
}

/// <summary>The server answered something other than what the scenario requires: its figures would be meaningless.</summary>
internal sealed class BenchCheckException(string message) : Exception(message);
