using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Runledger.Bench.Harness;

/// <summary>The LLM Observability API as the scenarios use it: Datadog keys, JSON:API bodies, checked answers.</summary>
internal static class LlmObsApi
{
    /// <summary>The Datadog key pair the bench server is started with (RUNLEDGER_DD_API_KEY / _APP_KEY).</summary>
    public const string ApiKey = "0123456789abcdef0123456789abcdef";
    public const string AppKey = "0123456789abcdef0123456789abcdef01234567";

    public const string V1 = "/api/v2/llm-obs/v1";

    private const int SeedBatch = 2_000;

    /// <summary>A client that sends the bench's Datadog keys with every request.</summary>
    public static HttpClient NewClient(Uri baseAddress)
    {
        var http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromMinutes(2) };
        AddKeys(http.DefaultRequestHeaders);
        return http;
    }

    public static void AddKeys(System.Net.Http.Headers.HttpRequestHeaders headers)
    {
        headers.Add("DD-API-KEY", ApiKey);
        headers.Add("DD-APPLICATION-KEY", AppKey);
    }

    /// <summary>Creates a project; returns its id.</summary>
    public static Task<string> CreateProjectAsync(HttpClient http, string name, CancellationToken cancellationToken) =>
        CreateAsync(http, $"{V1}/projects", """{"data":{"type":"projects","attributes":{"name":""" + Json(name) + "}}}", cancellationToken);

    /// <summary>Creates a dataset in a project; returns its id.</summary>
    public static Task<string> CreateDatasetAsync(HttpClient http, string project, string name, CancellationToken cancellationToken) =>
        CreateAsync(http, $"{V1}/{project}/datasets", """{"data":{"type":"datasets","attributes":{"name":""" + Json(name) + "}}}", cancellationToken);

    /// <summary>
    /// Fills a new dataset with records <c>rec-1 … rec-N</c> through batch_update, 2,000 per request
    /// (the first makes version 1, the others add to it).
    /// </summary>
    public static async Task SeedRecordsAsync(HttpClient http, string project, string dataset, int records, CancellationToken cancellationToken)
    {
        for (var from = 1; from <= records; from += SeedBatch)
        {
            var body = BatchUpdateInsertBody(dataset, from, Math.Min(SeedBatch, records - from + 1), newVersion: from == 1);
            await SendAsync(http, HttpMethod.Post, $"{V1}/{project}/datasets/{dataset}/batch_update", body, HttpStatusCode.OK, cancellationToken);
        }
    }

    /// <summary>A batch_update body inserting records <c>rec-{from} …</c>, <paramref name="count"/> of them.</summary>
    public static string BatchUpdateInsertBody(string dataset, int from, int count, bool newVersion)
    {
        var body = new StringBuilder($$"""{"data":{"id":"{{dataset}}","type":"datasets","attributes":{"create_new_version":{{(newVersion ? "true" : "false")}},"insert_records":[""");
        for (var i = from; i < from + count; i++)
        {
            body.Append(i == from ? "" : ",").Append($$"""{"id":"rec-{{i}}","input":{"question":"What is {{i}} squared?"},"expected_output":"{{(long)i * i}}"}""");
        }

        return body.Append("]}}}").ToString();
    }

    /// <summary>An append (CreateLLMObsDatasetRecords) body of <paramref name="count"/> records with distinct inputs, from number <paramref name="from"/>.</summary>
    public static string AppendBody(int from, int count)
    {
        var body = new StringBuilder("""{"data":{"type":"records","attributes":{"records":[""");
        for (var i = from; i < from + count; i++)
        {
            body.Append(i == from ? "" : ",").Append($$"""{"input":{"question":"What is {{i}} squared?"},"expected_output":"{{(long)i * i}}"}""");
        }

        return body.Append("]}}}").ToString();
    }

    /// <summary>A JSON string literal.</summary>
    public static string Json(string text) => JsonSerializer.Serialize(text);

    public static async Task<string> CreateAsync(HttpClient http, string path, string body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (response.StatusCode != HttpStatusCode.Created)
        {
            throw new BenchCheckException($"POST {path} answered {(int)response.StatusCode}, expected 201: {text}");
        }

        using var json = JsonDocument.Parse(text);
        return json.RootElement.GetProperty("data").GetProperty("id").GetString()!;
    }

    /// <summary>Sends a JSON body and times it to the whole response read; fails unless the status is <paramref name="expected"/>.</summary>
    public static async Task<TimeSpan> SendAsync(HttpClient http, HttpMethod method, string path, string body, HttpStatusCode expected, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        var started = Stopwatch.GetTimestamp();
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
        var elapsed = Stopwatch.GetElapsedTime(started);
        if (response.StatusCode != expected)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new BenchCheckException($"{method} {path} answered {(int)response.StatusCode}, expected {(int)expected}: {text[..Math.Min(text.Length, 500)]}");
        }

        return elapsed;
    }
}
