namespace Runledger.Server.Runner;

/// <summary>Workflow templates and the local process runner. Keys under <c>Runner:</c>.</summary>
public sealed class RunnerOptions
{
    public const string Section = "Runner";

    /// <summary>Folder of workflow template files (<c>*.yaml</c>/<c>*.yml</c>), watched for changes. Templates are global: every resource group sees them.</summary>
    public string TemplatesDir { get; set; } = "./templates";

    /// <summary>Whether this node starts execution processes (<c>false</c>: an API-only node).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Executions running at once per resource group (<c>aiApi.limits.executions.maxRunningCount</c>); -1 = unlimited.</summary>
    public int MaxRunningCount { get; set; } = -1;

    /// <summary>After SIGTERM, how long a stopping process may take before it is killed.</summary>
    public double StopGraceSeconds { get; set; } = 10;

    /// <summary>How long a node vouches for the processes it runs without renewing; after that another node marks them DEAD.</summary>
    public int LeaseSeconds { get; set; } = 30;

    /// <summary>How often the runner looks for pending executions and stop requests it was not signalled about.</summary>
    public double PollSeconds { get; set; } = 1;

    /// <summary>Lifetime of the token handed to each process for logging its metrics.</summary>
    public int ExecutionTokenLifetimeSeconds { get; set; } = 86_400;

    /// <summary>URL the processes use to reach this server (default: the first address it listens on).</summary>
    public string? ServerUrl { get; set; }

    /// <summary>Whether bulk PATCH /v2/lm/executions is offered (<c>bulkUpdates.executions</c> in /v2/lm/meta).</summary>
    public bool BulkUpdates { get; set; } = true;
}

internal sealed class RunnerOptionsValidator : Microsoft.Extensions.Options.IValidateOptions<RunnerOptions>
{
    public Microsoft.Extensions.Options.ValidateOptionsResult Validate(string? name, RunnerOptions options)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(options.TemplatesDir))
        {
            failures.Add("Runner:TemplatesDir is empty; give the folder of workflow templates (default ./templates).");
        }

        if (options.MaxRunningCount < -1)
        {
            failures.Add($"Runner:MaxRunningCount is {options.MaxRunningCount}; use -1 (unlimited) or a count of 0 or more.");
        }

        if (options.StopGraceSeconds < 0)
        {
            failures.Add($"Runner:StopGraceSeconds is {options.StopGraceSeconds}; it must not be negative.");
        }

        if (options.LeaseSeconds < 3)
        {
            failures.Add($"Runner:LeaseSeconds is {options.LeaseSeconds}; it must be at least 3.");
        }

        if (options.PollSeconds <= 0)
        {
            failures.Add($"Runner:PollSeconds is {options.PollSeconds}; it must be above 0.");
        }

        if (options.ExecutionTokenLifetimeSeconds < 60)
        {
            failures.Add($"Runner:ExecutionTokenLifetimeSeconds is {options.ExecutionTokenLifetimeSeconds}; it must be at least 60.");
        }

        if (options.ServerUrl is { Length: > 0 } url && !Uri.TryCreate(url, UriKind.Absolute, out _))
        {
            failures.Add($"Runner:ServerUrl '{url}' is not an absolute URL.");
        }

        return failures.Count == 0 ? Microsoft.Extensions.Options.ValidateOptionsResult.Success : Microsoft.Extensions.Options.ValidateOptionsResult.Fail(failures);
    }
}
