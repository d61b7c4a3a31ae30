using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Runledger.Server.Runner;

namespace Runledger.Server.AiApi.Meta;

/// <summary><c>GET /v2/lm/meta</c>: what this server really offers (<c>MetaCapabilities</c>).</summary>
public static class MetaEndpoints
{
    /// <summary>The AI API spec version the served operations follow.</summary>
    public const string AiApiVersion = "2.42.0";

    public static RouteGroupBuilder MapMeta(this RouteGroupBuilder group)
    {
        group.MapGet("/meta", Get);
        return group;
    }

    public static JsonHttpResult<JsonObject> Get(IOptions<RunnerOptions> options)
    {
        var runner = options.Value;
        var version = typeof(MetaEndpoints).Assembly.GetName().Version ?? new Version(0, 1, 0);
        var meta = new JsonObject
        {
            ["runtimeIdentifier"] = "runledger",
            ["runtimeApiVersion"] = $"{version.Major}.{version.Minor}.{Math.Max(0, version.Build)}",
            ["description"] = "Runledger: self-hosted records of ML and LLM work, with audited deletion",
            ["aiApi"] = new JsonObject
            {
                ["version"] = AiApiVersion,
                ["capabilities"] = new JsonObject
                {
                    ["multitenant"] = true,
                    ["shareable"] = true,
                    ["staticDeployments"] = false,
                    ["userDeployments"] = false,
                    ["userExecutions"] = true,
                    ["timeToLiveDeployments"] = false,
                    ["executionSchedules"] = false,
                    ["logs"] = new JsonObject { ["executions"] = true, ["deployments"] = false },
                    ["bulkUpdates"] = new JsonObject { ["executions"] = runner.BulkUpdates, ["deployments"] = false },
                },
                ["limits"] = new JsonObject
                {
                    ["executions"] = new JsonObject { ["maxRunningCount"] = runner.MaxRunningCount },
                    ["deployments"] = new JsonObject { ["maxRunningCount"] = 0 },
                },
            },
            ["extensions"] = new JsonObject
            {
                ["resourceGroups"] = new JsonObject { ["version"] = "1.0.0" },
                ["metrics"] = new JsonObject { ["version"] = "1.0.0", ["capabilities"] = new JsonObject { ["extendedResults"] = false } },
            },
        };
        return TypedResults.Json(meta, AiApiJson.Default.JsonObject);
    }
}
