using Microsoft.Extensions.Options;

namespace Runledger.Server.Hosting;

/// <summary>Checks configuration at start; every message names the key to fix.</summary>
internal sealed class StorageOptionsValidator : IValidateOptions<StorageOptions>
{
    public ValidateOptionsResult Validate(string? name, StorageOptions options)
    {
        var provider = options.EffectiveProvider;
        if (provider is not ("sqlite" or "postgres"))
        {
            return ValidateOptionsResult.Fail($"Storage:Provider is '{options.Provider}'; use 'sqlite' or 'postgres'.");
        }

        if (provider == "sqlite" && string.IsNullOrWhiteSpace(options.DataDir))
        {
            return ValidateOptionsResult.Fail("Storage:DataDir is empty; give the folder for the SQLite file (default ./data).");
        }

        if (provider == "postgres")
        {
            if (string.IsNullOrWhiteSpace(options.Postgres))
            {
                return ValidateOptionsResult.Fail("Storage:Postgres is empty but Storage:Provider is 'postgres'; give an Npgsql connection string such as 'Host=127.0.0.1;Username=runledger;Database=runledger'.");
            }

            try
            {
                _ = new Npgsql.NpgsqlConnectionStringBuilder(options.Postgres);
            }
            catch (ArgumentException ex)
            {
                return ValidateOptionsResult.Fail($"Storage:Postgres is not a valid connection string: {ex.Message}");
            }
        }

        return ValidateOptionsResult.Success;
    }
}

internal sealed class LimitsOptionsValidator : IValidateOptions<LimitsOptions>
{
    public ValidateOptionsResult Validate(string? name, LimitsOptions options) =>
        options.MaxRequestBodyBytes < 1024
            ? ValidateOptionsResult.Fail($"Limits:MaxRequestBodyBytes is {options.MaxRequestBodyBytes}; it must be at least 1024.")
            : ValidateOptionsResult.Success;
}

internal sealed class RateLimitOptionsValidator : IValidateOptions<RateLimitOptions>
{
    public ValidateOptionsResult Validate(string? name, RateLimitOptions options)
    {
        var failures = new List<string>();
        if (options.PermitLimit < 1)
        {
            failures.Add($"RateLimit:PermitLimit is {options.PermitLimit}; it must be at least 1 (set RateLimit:Enabled=false to turn limiting off).");
        }

        if (options.WindowSeconds < 1)
        {
            failures.Add($"RateLimit:WindowSeconds is {options.WindowSeconds}; it must be at least 1.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

internal sealed class LifecycleOptionsValidator : IValidateOptions<LifecycleOptions>
{
    public ValidateOptionsResult Validate(string? name, LifecycleOptions options)
    {
        var failures = new List<string>();
        if (options.BatchSize is < 1 or > 100_000)
        {
            failures.Add($"Lifecycle:BatchSize is {options.BatchSize}; use 1 to 100000.");
        }

        if (options.SmallJobGroup is < 1 or > 1_000)
        {
            failures.Add($"Lifecycle:SmallJobGroup is {options.SmallJobGroup}; use 1 (each job on its own) to 1000.");
        }

        if (options.LeaseSeconds < 1)
        {
            failures.Add($"Lifecycle:LeaseSeconds is {options.LeaseSeconds}; it must be at least 1.");
        }

        if (options.PollSeconds <= 0)
        {
            failures.Add($"Lifecycle:PollSeconds is {options.PollSeconds}; it must be above 0.");
        }

        if (options.MaxAttempts < 1)
        {
            failures.Add($"Lifecycle:MaxAttempts is {options.MaxAttempts}; it must be at least 1.");
        }

        if (options.BusyRequestsPerSecond < 0)
        {
            failures.Add($"Lifecycle:BusyRequestsPerSecond is {options.BusyRequestsPerSecond}; it must be 0 or more.");
        }

        if (options.BusyCascadeShare is not (> 0.05 and <= 1))
        {
            failures.Add($"Lifecycle:BusyCascadeShare is {options.BusyCascadeShare}; use more than 0.05 and at most 1 (1 = cascades never yield to traffic).");
        }

        if (options.RetryBaseSeconds < 0)
        {
            failures.Add($"Lifecycle:RetryBaseSeconds is {options.RetryBaseSeconds}; it must not be negative.");
        }

        if (options.RetryMaxSeconds < options.RetryBaseSeconds)
        {
            failures.Add($"Lifecycle:RetryMaxSeconds is {options.RetryMaxSeconds}; it must be at least Lifecycle:RetryBaseSeconds ({options.RetryBaseSeconds}).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
