using System.Net;
using System.Text.Json.Nodes;
using Dapper;
using Runledger.Storage;

namespace Runledger.Api.Tests.Support;

/// <summary>Creating LLM Obs projects, datasets and records through the API, and counting what the store holds.</summary>
public static class LlmObs
{
    public const string V1 = "/api/v2/llm-obs/v1";

    public static async Task<string> NewProjectAsync(this HttpClient client)
    {
        var body = await (await client.PostAsync($"{V1}/projects", Http.JsonApi("projects", new JsonObject { ["name"] = "p-" + Guid.NewGuid().ToString("N") })))
            .ExpectAsync(HttpStatusCode.Created);
        return (string)body["data"]!["id"]!;
    }

    public static async Task<string> NewDatasetAsync(this HttpClient client, string projectId, string? name = null)
    {
        var body = await (await client.PostAsync($"{V1}/{projectId}/datasets", Http.JsonApi("datasets", new JsonObject { ["name"] = name ?? "d-" + Guid.NewGuid().ToString("N") })))
            .ExpectAsync(HttpStatusCode.Created);
        return (string)body["data"]!["id"]!;
    }

    /// <summary>Appends records with inputs <c>{"q": prefix + i}</c> and returns their ids in order.</summary>
    public static async Task<List<string>> AppendAsync(this HttpClient client, string projectId, string datasetId, int count, string prefix = "q")
    {
        var records = new JsonArray();
        for (var i = 0; i < count; i++)
        {
            records.Add(new JsonObject { ["input"] = new JsonObject { ["q"] = prefix + i }, ["expected_output"] = "a" + i });
        }

        var body = await (await client.PostAsync($"{V1}/{projectId}/datasets/{datasetId}/records", Http.JsonApi("records", new JsonObject { ["records"] = records })))
            .ExpectAsync(HttpStatusCode.Created);
        return body["data"]![0]!["records"]!.AsArray().Select(r => (string)r!["id"]!).ToList();
    }

    public static StringContent Delete(string type, string attribute, params string[] ids) =>
        Http.JsonApi(type, new JsonObject { [attribute] = new JsonArray(ids.Select(id => (JsonNode?)JsonValue.Create(id)).ToArray()) });

    public static async Task<long> CountAsync(this TestServer server, string sql, object? args = null)
    {
        await using var connection = await server.Service<IDatabase>().OpenAsync(CancellationToken.None);
        return await connection.ExecuteScalarAsync<long>(sql, args);
    }

    public static JsonObject Error(string status, string title, string detail, string code, string? jsonPointer = null, string? parameter = null)
    {
        var error = new JsonObject { ["status"] = status, ["title"] = title, ["detail"] = detail };
        if (jsonPointer is not null || parameter is not null)
        {
            var source = new JsonObject();
            if (jsonPointer is not null)
            {
                source["pointer"] = jsonPointer;
            }

            if (parameter is not null)
            {
                source["parameter"] = parameter;
            }

            error["source"] = source;
        }

        error["meta"] = new JsonObject { ["code"] = code, ["request_id"] = "{requestId}" };
        return new JsonObject { ["errors"] = new JsonArray(error) };
    }

    /// <summary>Asserts the status and the exact JSON:API error body.</summary>
    public static async Task ExpectErrorAsync(this HttpResponseMessage response, HttpStatusCode status, JsonObject expected)
    {
        var body = await response.ExpectAsync(status);
        Http.AssertJson(expected.ToJsonString(), body, response.RequestId());
    }
}
