using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using Runledger.Bench.Harness;
using Runledger.Bench.Report;

namespace Runledger.Bench.Scenarios;

/// <summary>
/// The reads of design.md's read target, shared by <c>reads</c> and <c>reads-during-cascade</c>:
/// <c>GET /v2/lm/executions/{id}</c> over seeded COMPLETED executions <c>bench-2 … bench-N+1</c>
/// (<c>bench-1</c> and <c>bench-N+2</c> … are left to whatever the scenario deletes), and the first page of 100 records of
/// a seeded LLM Obs dataset. Both are checked once in full before any load.
/// </summary>
internal sealed class ReadWorkload
{
    private const int PageLimit = 100;
    private readonly Uri[] _executionUris;
    private readonly Uri _recordsUri;
    private readonly AuthenticationHeaderValue _bearer;

    private ReadWorkload(Uri[] executionUris, Uri recordsUri, string adminToken)
    {
        _executionUris = executionUris;
        _recordsUri = recordsUri;
        _bearer = new AuthenticationHeaderValue("Bearer", adminToken);
    }

    public OpenLoadRequest GetExecution => new("GET /v2/lm/executions/{id}", n =>
    {
        // A fixed stride coprime with nothing in particular: ids spread over the table, not a hot row.
        var request = new HttpRequestMessage(HttpMethod.Get, _executionUris[(int)(n * 7_919 % _executionUris.Length)]);
        request.Headers.Authorization = _bearer;
        request.Headers.Add(ApiClient.ResourceGroupHeader, BenchContext.ResourceGroup);
        return request;
    });

    public OpenLoadRequest ListRecords => new($"GET …/records?page[limit]={PageLimit}", _ =>
    {
        var request = new HttpRequestMessage(HttpMethod.Get, _recordsUri);
        LlmObsApi.AddKeys(request.Headers);
        return request;
    });

    public static void Describe(ScenarioResult result, int executions, int records)
    {
        result.Parameter("executions seeded", executions);
        result.Parameter("records in the dataset", records);
    }

    /// <summary>
    /// Seeds <paramref name="executions"/> + 1 + <paramref name="spare"/> executions (the spare ones,
    /// <c>bench-N+2</c> …, are not read) and a dataset of <paramref name="records"/> records; checks one answer of each read.
    /// </summary>
    public static async Task<ReadWorkload> SeedAsync(BenchContext context, BenchServer server, string scenario, int executions, int records, CancellationToken cancellationToken, int spare = 0)
    {
        var seed = Stopwatch.StartNew();
        await server.Store.SeedCompletedExecutionsAsync(BenchContext.ResourceGroup, executions + 1 + spare, cancellationToken);
        using var http = LlmObsApi.NewClient(server.Process.BaseAddress);
        var project = await LlmObsApi.CreateProjectAsync(http, "bench-reads", cancellationToken);
        var dataset = await LlmObsApi.CreateDatasetAsync(http, project, "bench-reads", cancellationToken);
        await LlmObsApi.SeedRecordsAsync(http, project, dataset, records, cancellationToken);
        context.Progress(scenario, $"seeded {executions + 1 + spare:N0} executions and {records:N0} records in {seed.Elapsed.TotalSeconds:0.0} s");

        var workload = new ReadWorkload(
            Enumerable.Range(2, executions).Select(i => new Uri($"/v2/lm/executions/{BenchIds.Execution(i)}", UriKind.Relative)).ToArray(),
            new Uri($"{LlmObsApi.V1}/{project}/datasets/{dataset}/records?page[limit]={PageLimit}", UriKind.Relative),
            context.AdminToken);
        await workload.CheckAsync(server.Process.BaseAddress, Math.Min(PageLimit, records), cancellationToken);
        return workload;
    }

    private async Task CheckAsync(Uri baseAddress, int expectedRecords, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
        using (var response = await http.SendAsync(GetExecution.Build(0), cancellationToken))
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            using var json = response.IsSuccessStatusCode ? JsonDocument.Parse(text) : null;
            if (json is null || json.RootElement.GetProperty("status").GetString() != "COMPLETED" || json.RootElement.GetProperty("id").GetString() != BenchIds.Execution(2))
            {
                throw new BenchCheckException($"GET {_executionUris[0]} answered {(int)response.StatusCode}, expected 200 with the COMPLETED execution: {text[..Math.Min(text.Length, 300)]}");
            }
        }

        using (var response = await http.SendAsync(ListRecords.Build(0), cancellationToken))
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            using var json = response.IsSuccessStatusCode ? JsonDocument.Parse(text) : null;
            var count = json?.RootElement.GetProperty("data").GetArrayLength();
            if (count != expectedRecords)
            {
                throw new BenchCheckException($"GET {_recordsUri} answered {(int)response.StatusCode} with {count} records, expected 200 with {expectedRecords}: {text[..Math.Min(text.Length, 300)]}");
            }
        }
    }

    /// <summary>Runs one open-model phase and logs what went wrong, if anything did.</summary>
    public static async Task<OpenLoadResult> RunAsync(
        BenchContext context, string scenario, string phase, OpenLoadGenerator generator, IReadOnlyList<OpenLoadRequest> mix, double rate, TimeSpan duration,
        CancellationToken stopScheduling, CancellationToken cancellationToken)
    {
        var load = await generator.RunAsync(mix, rate, duration, stopScheduling, cancellationToken);
        context.Progress(scenario, $"{phase}: {load.Scheduled:N0} requests in {load.SchedulingTime.TotalSeconds:0.0} s ({load.AchievedRate:N0}/s), {load.Errors:N0} errors");
        foreach (var sample in load.ErrorSamples)
        {
            context.Progress(scenario, $"{phase}: error: {sample}");
        }

        if (load.Answered == 0)
        {
            throw new BenchCheckException($"{phase}: none of {load.Scheduled} requests was answered as expected ({string.Join("; ", load.ErrorSamples)}).");
        }

        return load;
    }
}
