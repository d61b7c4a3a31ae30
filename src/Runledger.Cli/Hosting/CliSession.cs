using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace Runledger.Cli.Hosting;

/// <summary>
/// One command's connection to the server and its output: sends admin requests, turns every
/// failure into a <see cref="CliException"/> with the right exit code, and writes JSON or tables.
/// </summary>
internal sealed class CliSession(HttpClient http, bool json, TextWriter output, IAnsiConsole console, TextWriter error, TimeProvider time)
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public bool Json { get; } = json;

    public TextWriter Output { get; } = output;

    public TextWriter Error { get; } = error;

    /// <summary>Tables, grids and progress bars for people (never used with <c>--output json</c>).</summary>
    public IAnsiConsole Console { get; } = console;

    public TimeProvider Time { get; } = time;

    public Uri Server => http.BaseAddress!;

    public Task<JsonNode> GetAsync(string path, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Get, path, null, cancellationToken);

    public async Task<JsonNode> SendAsync(HttpMethod method, string path, JsonNode? body, CancellationToken cancellationToken)
    {
        using var response = await SendRawAsync(method, path, body, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        return text.Length == 0 ? new JsonObject() : ParseOrThrow(text, method, path);
    }

    /// <summary>Sends and checks the status; the caller reads (or streams) the body and disposes the response.</summary>
    public async Task<HttpResponseMessage> SendRawAsync(HttpMethod method, string path, JsonNode? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, new MediaTypeHeaderValue("application/json"));
        }

        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (HttpRequestException ex)
        {
            throw new CliException(ExitCodes.Unreachable, $"Cannot reach the Runledger server at {Server}: {ex.Message} Start the server, or point --server (or ${GlobalOptions.ServerVariable}) at it.");
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CliException(ExitCodes.Unreachable, $"The Runledger server at {Server} did not answer within {http.Timeout.TotalSeconds:0} s; check that it is running and reachable.");
        }

        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new CliException(ExitCodes.Refused, Refusal(method, path, response.StatusCode, text));
        }
    }

    public void WriteJson(JsonNode node) => Output.WriteLine(node.ToJsonString(Indented));

    public void WriteLine(string text) => Output.WriteLine(text);

    /// <summary>What the server said, in its own words (every error shape it speaks), plus what to do about credentials.</summary>
    private static string Refusal(HttpMethod method, string path, HttpStatusCode status, string body)
    {
        string? detail = null;
        try
        {
            var node = JsonNode.Parse(body);
            detail = (string?)node?["detail"] ?? (string?)node?["error"]?["message"] ?? (string?)node?["errors"]?[0]?["detail"] ?? (string?)node?["error_description"];
        }
        catch (JsonException)
        {
            // Not JSON (a proxy's page?): fall back to the status.
        }

        var message = new StringBuilder($"The server refused {method} {path}: {(int)status} {ReasonPhrase(status)}");
        if (detail is not null)
        {
            message.Append(" — ").Append(detail);
        }

        if (status == HttpStatusCode.Unauthorized)
        {
            message.Append($" Pass a valid admin token with --token or ${GlobalOptions.TokenVariable}.");
        }
        else if (status == HttpStatusCode.Forbidden)
        {
            message.Append(" Use a token with the 'admin' scope (runledger credentials create --kind bearer_token --scope admin).");
        }

        return message.ToString();
    }

    private static string ReasonPhrase(HttpStatusCode status) => status switch
    {
        HttpStatusCode.NotFound => "Not Found",
        HttpStatusCode.BadRequest => "Bad Request",
        HttpStatusCode.Conflict => "Conflict",
        HttpStatusCode.Unauthorized => "Unauthorized",
        HttpStatusCode.Forbidden => "Forbidden",
        HttpStatusCode.PreconditionFailed => "Precondition Failed",
        _ => status.ToString(),
    };

    private static JsonNode ParseOrThrow(string text, HttpMethod method, string path)
    {
        try
        {
            return JsonNode.Parse(text) ?? new JsonObject();
        }
        catch (JsonException ex)
        {
            throw new CliException(ExitCodes.Refused, $"The server's answer to {method} {path} is not JSON ({ex.Message}); is --server pointing at a Runledger server?");
        }
    }
}
