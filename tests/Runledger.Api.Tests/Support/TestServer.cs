using System.Net.Http.Headers;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Runledger.Server;
using Runledger.Server.Auth;
using Runledger.Storage.Credentials;

namespace Runledger.Api.Tests.Support;

public enum Provider
{
    Sqlite,
    Postgres,
}

/// <summary>
/// The real server, built by <see cref="RunledgerApp"/> and listening on a free port of 127.0.0.1:
/// tests talk to it over real HTTP, and it stores into a real SQLite file or PostgreSQL database
/// of its own.
/// </summary>
public sealed class TestServer : IAsyncDisposable
{
    private readonly bool _ownsStore;

    private TestServer(WebApplication app, Provider provider, string dataDir, string? postgres, bool ownsStore)
    {
        App = app;
        Provider = provider;
        DataDir = dataDir;
        PostgresConnectionString = postgres;
        _ownsStore = ownsStore;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        BaseAddress = new Uri(address);
        Anonymous = NewClient();
        Admin = NewClient(TestCredentials.AdminToken);
        Datadog = NewDatadogClient(TestCredentials.DatadogApiKey, TestCredentials.DatadogAppKey);
    }

    public WebApplication App { get; }
    public Provider Provider { get; }
    public string DataDir { get; }
    public string? PostgresConnectionString { get; }
    public Uri BaseAddress { get; }

    /// <summary>No credentials.</summary>
    public HttpClient Anonymous { get; }

    /// <summary>The admin bearer token from RUNLEDGER_ADMIN_TOKEN.</summary>
    public HttpClient Admin { get; }

    /// <summary>The read+write Datadog key pair from RUNLEDGER_DD_API_KEY/APP_KEY.</summary>
    public HttpClient Datadog { get; }

    /// <summary>
    /// Starts a server. Pass <paramref name="dataDir"/> or <paramref name="postgres"/> to reopen an
    /// existing store (restart tests); otherwise a fresh one is made and removed on dispose.
    /// </summary>
    public static async Task<TestServer> StartAsync(
        Provider provider,
        IDictionary<string, string?>? settings = null,
        Action<IServiceCollection>? services = null,
        string? dataDir = null,
        string? postgres = null)
    {
        var ownsStore = dataDir is null && postgres is null;
        dataDir ??= Path.Combine(Path.GetTempPath(), "runledger-tests", Guid.NewGuid().ToString("N"));
        if (provider == Provider.Postgres)
        {
            postgres ??= await Support.Postgres.CreateDatabaseAsync();
        }

        var values = TestCredentials.Settings();
        values["Storage:Provider"] = provider == Provider.Postgres ? "postgres" : "sqlite";
        values["Storage:DataDir"] = dataDir;
        values["Storage:Postgres"] = postgres;
        values["Lifecycle:PollSeconds"] = "0.2";
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            values[key] = value;
        }

        var app = RunledgerApp.Build([], builder =>
        {
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Configuration.AddInMemoryCollection(values);
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            services?.Invoke(builder.Services);
        });
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await app.StartAsync(timeout.Token);
        return new TestServer(app, provider, dataDir, postgres, ownsStore);
    }

    public T Service<T>()
        where T : notnull => App.Services.GetRequiredService<T>();

    public HttpClient NewClient(string? bearer = null)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        if (bearer is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        return client;
    }

    public HttpClient NewDatadogClient(string apiKey, string appKey)
    {
        var client = NewClient();
        client.DefaultRequestHeaders.Add("DD-API-KEY", apiKey);
        client.DefaultRequestHeaders.Add("DD-APPLICATION-KEY", appKey);
        return client;
    }

    /// <summary>Stores a new credential directly (what the credentials CLI will do) and returns its secret.</summary>
    public async Task<string> AddCredentialAsync(string kind, string scopes, string orgId = "default")
    {
        var secret = kind == CredentialKinds.DatadogApiKey ? Secrets.NewDatadogApiKey()
            : kind == CredentialKinds.DatadogAppKey ? Secrets.NewDatadogAppKey()
            : Secrets.NewBearerToken();
        await Service<ICredentialStore>().UpsertAsync(new CredentialRow
        {
            Id = "test-" + Guid.NewGuid().ToString("N"),
            Kind = kind,
            Name = "test credential",
            Scopes = scopes,
            OrgId = orgId,
            LookupHash = Secrets.LookupHash(secret),
        }, CancellationToken.None);
        return secret;
    }

    public async ValueTask DisposeAsync()
    {
        Anonymous.Dispose();
        Admin.Dispose();
        Datadog.Dispose();
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            await App.StopAsync(timeout.Token);
        }

        await App.DisposeAsync();
        if (!_ownsStore)
        {
            return;
        }

        if (PostgresConnectionString is not null)
        {
            await Support.Postgres.DropDatabaseAsync(PostgresConnectionString);
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (Directory.Exists(DataDir))
        {
            Directory.Delete(DataDir, recursive: true);
        }
    }
}

/// <summary>One server per test class and provider (xunit class fixture).</summary>
public abstract class ServerFixture(Provider provider) : IAsyncLifetime
{
    private TestServer? _server;

    public TestServer Server => _server ?? throw new InvalidOperationException("The server has not started.");

    protected virtual IDictionary<string, string?> Settings => new Dictionary<string, string?>();

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(provider, Settings);

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

public sealed class SqliteServer() : ServerFixture(Provider.Sqlite);

public sealed class PostgresServer() : ServerFixture(Provider.Postgres);
