using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Runledger.Api.Tests.Support;

public static class Http
{
    public static StringContent Json(string json, string mediaType = "application/json") =>
        new(json, Encoding.UTF8, new MediaTypeHeaderValue(mediaType));

    /// <summary>A JSON:API request body <c>{"data":{"type":…,"attributes":…}}</c>.</summary>
    public static StringContent JsonApi(string type, JsonObject attributes) =>
        Json(new JsonObject { ["data"] = new JsonObject { ["type"] = type, ["attributes"] = attributes } }.ToJsonString());

    public static async Task<JsonNode> BodyAsync(this HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        return JsonNode.Parse(text) ?? throw new InvalidOperationException("empty body");
    }

    /// <summary>Asserts the status and returns the parsed body, showing the body when the status is wrong.</summary>
    public static async Task<JsonNode> ExpectAsync(this HttpResponseMessage response, HttpStatusCode status)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"Expected {(int)status} but got {(int)response.StatusCode}: {text}");
        return text.Length == 0 ? new JsonObject() : JsonNode.Parse(text)!;
    }

    public static string RequestId(this HttpResponseMessage response) => response.Headers.GetValues("X-Request-Id").Single();

    /// <summary>Compares with a golden body after replacing the (random) request id by a placeholder.</summary>
    public static void AssertJson(string expected, JsonNode actual, string? requestId = null)
    {
        var text = actual.ToJsonString();
        if (requestId is not null)
        {
            text = text.Replace(requestId, "{requestId}", StringComparison.Ordinal);
        }

        Assert.Equal(Normalize(expected), Normalize(text));
    }

    private static string Normalize(string json) => JsonNode.Parse(json)!.ToJsonString(new JsonSerializerOptions { WriteIndented = false });
}
