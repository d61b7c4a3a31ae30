using Npgsql;

namespace Runledger.Api.Tests.Support;

/// <summary>
/// The PostgreSQL server the tests use: <c>RUNLEDGER_TEST_PG</c> (an Npgsql connection string with
/// rights to create databases), which <c>./test.sh</c> sets after starting a private instance.
/// Each test class gets a fresh database, dropped afterwards.
/// </summary>
public static class Postgres
{
    public const string Variable = "RUNLEDGER_TEST_PG";

    public static string AdminConnectionString =>
        Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                $"PostgreSQL tests need {Variable} (an Npgsql connection string to a server where databases may be created). " +
                "Run ./test.sh, which starts a private PostgreSQL 15 and sets it, or export it yourself.");

    public static async Task<string> CreateDatabaseAsync()
    {
        var name = "rl_test_" + Guid.NewGuid().ToString("N")[..16];
        await using var connection = new NpgsqlConnection(AdminConnectionString);
        try
        {
            await connection.OpenAsync();
        }
        catch (NpgsqlException ex)
        {
            throw new InvalidOperationException($"PostgreSQL at {Variable} is unreachable ({ex.Message}). Run ./test.sh, which starts one.", ex);
        }

        await using (var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection))
        {
            await command.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(AdminConnectionString) { Database = name, Pooling = true }.ConnectionString;
    }

    public static async Task DropDatabaseAsync(string connectionString)
    {
        var name = new NpgsqlConnectionStringBuilder(connectionString).Database;
        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(AdminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", connection);
        await command.ExecuteNonQueryAsync();
    }
}
