using System.Net;
using System.Text.Json.Nodes;
using Dapper;
using Microsoft.Extensions.Time.Testing;
using Runledger.Server.Lifecycle;
using Runledger.Storage;

namespace Runledger.Api.Tests.Support;

/// <summary>
/// A server on a fake clock whose deletion worker runs only when a test says so
/// (<see cref="RunWorkerAsync"/>), with grace periods for the AI API kinds: tests move time and
/// decide exactly when reclaiming happens, so nothing races and nothing sleeps.
/// </summary>
public abstract class LifecycleServer(Provider provider) : IAsyncLifetime
{
    public static readonly TimeSpan Grace = TimeSpan.FromDays(1);

    private TestServer? _server;

    public TestServer Server => _server ?? throw new InvalidOperationException("The server has not started.");

    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.Parse("2026-11-23T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

    protected virtual IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Lifecycle:WorkerEnabled"] = "false",
        ["Retention:Enabled"] = "false",
        ["Lifecycle:Grace:execution"] = "1.00:00:00",
        ["Lifecycle:Grace:resource_group"] = "1.00:00:00",
        ["Lifecycle:Grace:metrics"] = "1.00:00:00",
    };

    public async Task InitializeAsync() =>
        _server = await TestServer.StartAsync(provider, Settings, services => services.AddSingleton<TimeProvider>(Clock));

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    /// <summary>Works every due job to its end, as the background worker would.</summary>
    public async Task RunWorkerAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var worker = Server.Service<DeletionWorker>();
        while (await worker.RunOnceAsync(timeout.Token))
        {
        }
    }

    public async Task<string> CreateResourceGroupAsync()
    {
        var id = "rg-" + Guid.NewGuid().ToString("N")[..12];
        await (await Server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json("{\"resourceGroupId\":\"" + id + "\",\"labels\":[{\"key\":\"ext.ai.sap.com/team\",\"value\":\"vision\"}]}")))
            .ExpectAsync(HttpStatusCode.Accepted);
        return id;
    }

    /// <summary>A group with 10 configurations, <paramref name="executions"/> COMPLETED executions (ids <c>&lt;group&gt;-ex-N</c>), logs of ex-1 and metrics of ex-1 and ex-2.</summary>
    public async Task<string> SeedGroupAsync(int executions = 5)
    {
        var group = await CreateResourceGroupAsync();
        await Seed.OwnedRowsAsync(Server.Service<IDatabase>(), group, executions);
        using var client = Server.InGroup(group);
        foreach (var execution in new[] { $"{group}-ex-1", $"{group}-ex-2" })
        {
            await (await client.PatchAsync("/v2/lm/metrics", Http.Json($$"""
                {"executionId":"{{execution}}",
                 "metrics":[{"name":"loss","value":0.5,"timestamp":"2026-11-01T00:00:02Z","step":2},{"name":"loss","value":0.25,"timestamp":"2026-11-20T00:00:03Z","step":3}],
                 "tags":[{"name":"team","value":"vision"}],"customInfo":[{"name":"note","value":"n"}]}
                """, "application/merge-patch+json"))).ExpectAsync(HttpStatusCode.NoContent);
        }

        return group;
    }

    /// <summary>Everything the AI API shows of a group, as text: compared before a delete and after its restore.</summary>
    public async Task<string> SnapshotAsync(string group)
    {
        using var client = Server.InGroup(group);
        var snapshot = new JsonObject
        {
            ["group"] = await GetAsync(Server.Admin, $"/v2/admin/resourceGroups/{group}"),
            ["executions"] = await GetAsync(client, "/v2/lm/executions?$top=1000"),
            ["configurations"] = await GetAsync(client, "/v2/lm/configurations"),
            ["ex-1"] = await GetAsync(client, $"/v2/lm/executions/{group}-ex-1"),
            ["logs"] = await GetAsync(client, $"/v2/lm/executions/{group}-ex-1/logs"),
            ["metrics"] = await GetAsync(client, $"/v2/lm/metrics?executionIds={group}-ex-1,{group}-ex-2"),
        };
        return snapshot.ToJsonString();
    }

    /// <summary>Rows the store still holds for a group, per table.</summary>
    public async Task<string> RowsAsync(string group)
    {
        await using var connection = await Server.Service<IDatabase>().OpenAsync(CancellationToken.None);
        var counts = await connection.QuerySingleAsync<(long, long, long, long, long, long)>(
            """
            SELECT (SELECT COUNT(*) FROM configurations WHERE resource_group = @group),
                   (SELECT COUNT(*) FROM executions WHERE resource_group = @group),
                   (SELECT COUNT(*) FROM execution_logs WHERE resource_group = @group),
                   (SELECT COUNT(*) FROM metric_resources WHERE resource_group = @group),
                   (SELECT COUNT(*) FROM metric_points WHERE resource_id IN (SELECT id FROM metric_resources WHERE resource_group = @group)),
                   (SELECT COUNT(*) FROM metric_attributes WHERE resource_id IN (SELECT id FROM metric_resources WHERE resource_group = @group))
            """,
            new { group });
        return $"configurations={counts.Item1} executions={counts.Item2} logs={counts.Item3} metric_resources={counts.Item4} points={counts.Item5} attributes={counts.Item6}";
    }

    private static async Task<JsonNode> GetAsync(HttpClient client, string path)
    {
        var response = await client.GetAsync(path);
        return new JsonObject { ["status"] = (int)response.StatusCode, ["body"] = await response.Content.ReadAsStringAsync() };
    }
}

public sealed class SqliteLifecycleServer() : LifecycleServer(Provider.Sqlite);

public sealed class PostgresLifecycleServer() : LifecycleServer(Provider.Postgres);
