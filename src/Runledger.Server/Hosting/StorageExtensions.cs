using Microsoft.Extensions.Options;
using Runledger.Storage;
using Runledger.Storage.Audit;
using Runledger.Storage.Credentials;
using Runledger.Storage.Lifecycle;
using Runledger.Storage.Migrations;
using Runledger.Storage.Postgres;
using Runledger.Storage.ResourceGroups;
using Runledger.Storage.Sqlite;

namespace Runledger.Server.Hosting;

public static class StorageExtensions
{
    public const string SqliteFileName = "runledger.db";

    /// <summary>Chooses the provider from <see cref="StorageOptions"/> and registers the stores over it.</summary>
    public static IServiceCollection AddStorage(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<StorageOptions>().Bind(configuration.GetSection(StorageOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<StorageOptions>, StorageOptionsValidator>();
        services.AddSingleton<IDatabase>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<StorageOptions>>().Value;
            return options.EffectiveProvider == "postgres"
                ? PostgresDatabase.Create(options.Postgres!)
                : new SqliteDatabase(Path.Combine(options.DataDir, SqliteFileName));
        });
        services.AddSingleton<MigrationRunner>();
        services.AddSingleton<LookupCache>();
        services.AddSingleton<IResourceGroupStore, ResourceGroupStore>();
        services.AddSingleton<ICredentialStore, CredentialStore>();
        services.AddSingleton<IDeletionJobStore, DeletionJobStore>();
        services.AddSingleton<IAuditStore, AuditStore>();
        return services;
    }
}
