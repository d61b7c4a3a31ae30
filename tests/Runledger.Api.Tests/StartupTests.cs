using System.Net;
using System.Text.RegularExpressions;
using Runledger.Api.Tests.Support;

namespace Runledger.Api.Tests;

/// <summary>The server as an operator runs it: configuration errors, first start, SIGTERM.</summary>
public sealed partial class StartupTests
{
    [Theory]
    [InlineData("--Storage:Provider=mysql", "Storage:Provider is 'mysql'; use 'sqlite' or 'postgres'.")]
    [InlineData("--Storage:Provider=postgres", "Storage:Postgres is empty but Storage:Provider is 'postgres'")]
    [InlineData("--Lifecycle:BatchSize=0", "Lifecycle:BatchSize is 0; use 1 to 100000.")]
    [InlineData("--Lifecycle:SmallJobGroup=0", "Lifecycle:SmallJobGroup is 0; use 1 (each job on its own) to 1000.")]
    [InlineData("--Lifecycle:BusyCascadeShare=0", "Lifecycle:BusyCascadeShare is 0; use more than 0.05 and at most 1")]
    [InlineData("--Limits:MaxRequestBodyBytes=10", "Limits:MaxRequestBodyBytes is 10; it must be at least 1024.")]
    [InlineData("--RateLimit:PermitLimit=0", "RateLimit:PermitLimit is 0; it must be at least 1")]
    public async Task InvalidConfiguration_ExitsNonZeroNamingTheKey(string argument, string message)
    {
        var dataDir = TempDir();
        await using var server = ServerProcess.Start(new Dictionary<string, string?> { ["Storage:DataDir"] = dataDir }, argument);
        Assert.Equal(2, await server.WaitForExitAsync());
        Assert.Contains("Runledger cannot start: invalid configuration.", server.Output, StringComparison.Ordinal);
        Assert.Contains(message, server.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnreachablePostgres_ExitsNonZero()
    {
        await using var server = ServerProcess.Start(new Dictionary<string, string?>(), "--Storage:Postgres=Host=127.0.0.1;Port=1;Username=nobody;Timeout=3");
        Assert.Equal(1, await server.WaitForExitAsync());
        Assert.Contains("Runledger cannot start:", server.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Provider.Sqlite)]
    [InlineData(Provider.Postgres)]
    public async Task FirstStart_PrintsGeneratedCredentialsOnceAndTheyWork(Provider provider)
    {
        var dataDir = TempDir();
        var postgres = provider == Provider.Postgres ? await Postgres.CreateDatabaseAsync() : null;
        var settings = new Dictionary<string, string?> { ["Storage:DataDir"] = dataDir, ["Storage:Postgres"] = postgres };
        try
        {
            string adminToken;
            await using (var first = ServerProcess.Start(settings))
            {
                await first.WaitReadyAsync();
                adminToken = Printed(first.Output, "AI API admin token");
                var apiKey = Printed(first.Output, "Datadog DD-API-KEY");
                var appKey = Printed(first.Output, "Datadog DD-APPLICATION-KEY");
                var clientId = Printed(first.Output, "OAuth client id");
                var clientSecret = Printed(first.Output, "OAuth client secret");

                using var admin = first.NewClient(adminToken);
                await (await admin.GetAsync("/v2/admin/resourceGroups")).ExpectAsync(HttpStatusCode.OK);
                using var datadog = first.NewClient(null);
                datadog.DefaultRequestHeaders.Add("DD-API-KEY", apiKey);
                datadog.DefaultRequestHeaders.Add("DD-APPLICATION-KEY", appKey);
                await (await datadog.GetAsync("/api/v2/llm-obs/v1/projects")).ExpectAsync(HttpStatusCode.OK);
                var token = await admin.PostAsync("/oauth/token", new FormUrlEncodedContent(new Dictionary<string, string>
                {
                    ["grant_type"] = "client_credentials",
                    ["client_id"] = clientId,
                    ["client_secret"] = clientSecret,
                }));
                await token.ExpectAsync(HttpStatusCode.OK);
                first.Terminate();
                await first.WaitForExitAsync();
            }

            await using var second = ServerProcess.Start(settings);
            await second.WaitReadyAsync();
            Assert.DoesNotContain("first start", second.Output, StringComparison.Ordinal);
            using var again = second.NewClient(adminToken);
            await (await again.GetAsync("/v2/admin/resourceGroups")).ExpectAsync(HttpStatusCode.OK);
        }
        finally
        {
            if (postgres is not null)
            {
                await Postgres.DropDatabaseAsync(postgres);
            }

            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public async Task Sigterm_ShutsDownGracefullyWithExitCodeZero()
    {
        var dataDir = TempDir();
        var settings = TestCredentials.Settings();
        settings["Storage:DataDir"] = dataDir;
        await using var server = ServerProcess.Start(settings);
        await server.WaitReadyAsync();
        server.Terminate();
        Assert.Equal(0, await server.WaitForExitAsync());
        Assert.Contains("Application is shutting down", server.Output, StringComparison.Ordinal);
        Directory.Delete(dataDir, recursive: true);
    }

    [Fact]
    public async Task DataDir_CreatedOnFirstStartWithSqliteFile()
    {
        var dataDir = Path.Combine(TempDir(), "nested", "data");
        var settings = TestCredentials.Settings();
        settings["Storage:DataDir"] = dataDir;
        await using var server = ServerProcess.Start(settings);
        await server.WaitReadyAsync();
        Assert.True(File.Exists(Path.Combine(dataDir, "runledger.db")));
    }

    private static string Printed(string output, string label)
    {
        var match = Regex.Match(output, Regex.Escape(label) + @":\s*(\S+)");
        Assert.True(match.Success, $"'{label}' was not printed:\n{output}");
        return match.Groups[1].Value;
    }

    private static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "runledger-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}
