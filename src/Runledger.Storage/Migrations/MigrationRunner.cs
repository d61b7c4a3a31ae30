using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using Dapper;
using Microsoft.Extensions.Logging;

namespace Runledger.Storage.Migrations;

/// <summary>
/// Applies a provider's numbered SQL migrations in order, each in its own transaction, and
/// records them in <c>schema_migrations</c>. Re-running is a no-op.
/// </summary>
public sealed partial class MigrationRunner(IDatabase database, TimeProvider time, ILogger<MigrationRunner> logger)
{
    public async Task<int> ApplyAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var migrationLock = await database.Dialect.AcquireMigrationLockAsync(connection, cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
            cancellationToken: cancellationToken));

        var applied = 0;
        foreach (var migration in database.Migrations.OrderBy(m => m.Version))
        {
            await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
            // Checked inside the transaction: another node may have applied it while we waited.
            var exists = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
                "SELECT COUNT(*) FROM schema_migrations WHERE version = @Version",
                new { migration.Version }, transaction, cancellationToken: cancellationToken));
            if (exists > 0)
            {
                continue;
            }

            await connection.ExecuteAsync(new CommandDefinition(migration.Sql, transaction: transaction, cancellationToken: cancellationToken));
            await connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (@Version, @Name, @At)",
                new { migration.Version, migration.Name, At = time.GetUtcNow().ToUnixTimeMilliseconds() },
                transaction, cancellationToken: cancellationToken));
            await transaction.CommitAsync(cancellationToken);
            LogApplied(logger, database.ProviderName, migration.Version, migration.Name);
            applied++;
        }

        return applied;
    }

    /// <summary>The highest version recorded, or -1 when the table does not exist yet.</summary>
    public async Task<int> CurrentVersionAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        try
        {
            return await connection.ExecuteScalarAsync<int?>(new CommandDefinition(
                "SELECT MAX(version) FROM schema_migrations", cancellationToken: cancellationToken)) ?? -1;
        }
        catch (System.Data.Common.DbException)
        {
            return -1;
        }
    }

    public int LatestVersion => database.Migrations.Count == 0 ? 0 : database.Migrations.Max(m => m.Version);

    /// <summary>Reads embedded resources named <c>…Migrations.NNNN_name.sql</c> from a provider assembly.</summary>
    public static IReadOnlyList<Migration> LoadEmbedded(Assembly assembly)
    {
        var list = new List<Migration>();
        foreach (var resource in assembly.GetManifestResourceNames())
        {
            var match = MigrationName().Match(resource);
            if (!match.Success)
            {
                continue;
            }

            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            list.Add(new Migration(
                int.Parse(match.Groups["version"].Value, CultureInfo.InvariantCulture),
                match.Groups["name"].Value,
                reader.ReadToEnd()));
        }

        var duplicate = list.GroupBy(m => m.Version).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new InvalidOperationException($"Two migrations share version {duplicate.Key} in {assembly.GetName().Name}.");
        }

        return list.OrderBy(m => m.Version).ToList();
    }

    [GeneratedRegex(@"Migrations\.(?<version>\d{4})_(?<name>[A-Za-z0-9_]+)\.sql$")]
    private static partial Regex MigrationName();

    [LoggerMessage(Level = LogLevel.Information, Message = "Applied {Provider} migration {Version} ({Name})")]
    private static partial void LogApplied(ILogger logger, string provider, int version, string name);
}
