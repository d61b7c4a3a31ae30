using System.Net;
using Runledger.Api.Tests.Support;

namespace Runledger.Api.Tests;

public abstract class HealthTests(ServerFixture fixture)
{
    private TestServer Server => fixture.Server;

    [Fact]
    public async Task Healthz_AnyTime_Answers200WithoutCredentials()
    {
        var response = await Server.Anonymous.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Healthy", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Readyz_StoreMigrated_Answers200()
    {
        var response = await Server.Anonymous.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Healthy", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task EveryResponse_CarriesRequestId()
    {
        var first = await Server.Anonymous.GetAsync("/healthz");
        var second = await Server.Anonymous.GetAsync("/v2/admin/resourceGroups");
        Assert.Matches("^[0-9a-f]{32}$", first.RequestId());
        Assert.NotEqual(first.RequestId(), second.RequestId());
    }
}

public sealed class HealthTestsOnSqlite(SqliteServer fixture) : HealthTests(fixture), IClassFixture<SqliteServer>;

public sealed class HealthTestsOnPostgres(PostgresServer fixture) : HealthTests(fixture), IClassFixture<PostgresServer>;
