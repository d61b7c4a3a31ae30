using System.CommandLine;
using Runledger.Bench;
using Runledger.Bench.Scenarios;

var scenario = new Argument<string>("scenario")
{
    Description = "What to measure: " + string.Join(", ", ScenarioRegistry.Names) + ".",
};
scenario.AcceptOnlyFromAmong([.. ScenarioRegistry.Names]);

var provider = new Option<string>("--provider")
{
    Description = "The server's store: sqlite (a fresh temp folder per server run) or postgres (a fresh database per server run).",
    DefaultValueFactory = _ => "sqlite",
};
provider.AcceptOnlyFromAmong("sqlite", "postgres");

var postgres = new Option<string?>("--postgres")
{
    HelpName = "CONNSTRING",
    Description = "Npgsql connection string of a PostgreSQL where the bench may CREATE and DROP databases (with --provider postgres).",
};

var json = new Option<FileInfo?>("--json")
{
    HelpName = "FILE",
    Description = "Also write the results as JSON to this file.",
};

var smoke = new Option<bool>("--smoke")
{
    Description = "Tiny sizes that finish in well under a minute (for CI): checks the bench and the server work, not the targets.",
};

var serverDll = new Option<FileInfo?>("--server-dll")
{
    HelpName = "PATH",
    Description = "Use this Runledger.Server.dll instead of building src/Runledger.Server in Release first.",
};

var serverSettings = new Option<string[]>("--server-setting")
{
    HelpName = "KEY=VALUE",
    Description = "Extra server configuration as KEY=VALUE (repeatable), e.g. Lifecycle:WorkerEnabled=false to see what the background worker costs. Figures measured so are not the product's.",
    AllowMultipleArgumentsPerToken = false,
};
serverSettings.Validators.Add(result =>
{
    foreach (var setting in result.GetValueOrDefault<string[]>() ?? [])
    {
        if (setting.IndexOf('=', StringComparison.Ordinal) <= 0)
        {
            result.AddError($"--server-setting '{setting}' is not KEY=VALUE (e.g. Lifecycle:BatchSize=1000).");
        }
    }
});

var serverLog = new Option<DirectoryInfo?>("--server-log")
{
    HelpName = "DIR",
    Description = "Write everything each server prints (one line per request, with its own timing) to DIR/server-N.log, for diagnosis.",
};

var root = new RootCommand("Runledger's benchmark: starts the Release server as its own process on fresh stores, measures the scenarios against the targets of design.md and prints one table.")
{
    scenario,
    provider,
    postgres,
    json,
    smoke,
    serverDll,
    serverSettings,
    serverLog,
};
root.Validators.Add(result =>
{
    if (result.GetValue(provider) == "postgres" && string.IsNullOrWhiteSpace(result.GetValue(postgres)))
    {
        result.AddError("--provider postgres needs --postgres \"Host=…;Port=…;Username=…;Database=…\" (a server where the bench may create databases).");
    }
});

root.SetAction((parse, cancellationToken) => BenchRunner.RunAsync(
    new BenchOptions(
        parse.GetRequiredValue(scenario),
        parse.GetRequiredValue(provider),
        parse.GetValue(postgres),
        parse.GetValue(json)?.FullName,
        parse.GetValue(smoke),
        parse.GetValue(serverDll)?.FullName,
        parse.GetValue(serverSettings) ?? [],
        parse.GetValue(serverLog)?.FullName),
    cancellationToken));

return await root.Parse(args).InvokeAsync();
