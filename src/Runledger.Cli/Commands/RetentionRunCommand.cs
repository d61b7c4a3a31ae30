using System.CommandLine;
using Runledger.Cli.Hosting;

namespace Runledger.Cli.Commands;

/// <summary><c>runledger retention run [--dry-run]</c>: evaluates every policy now.</summary>
internal sealed class RetentionRunCommand : ApiCommand
{
    private readonly Option<bool> _dryRun = new("--dry-run") { Description = "Only show what the policies would delete now; change nothing." };

    public RetentionRunCommand(CliEnvironment environment)
        : base(environment, "run", "Evaluate every retention policy now: each target becomes an ordinary deletion job (or, with --dry-run, is only listed).") =>
        Options.Add(_dryRun);

    protected override async Task<int> RunAsync(ParseResult parse, CliSession session, CancellationToken cancellationToken)
    {
        var dryRun = parse.GetValue(_dryRun);
        var run = await session.SendAsync(HttpMethod.Post, $"/runledger/v1/retention/run?dryRun={(dryRun ? "true" : "false")}", null, cancellationToken);
        if (session.Json)
        {
            session.WriteJson(run);
            return ExitCodes.Ok;
        }

        var table = Display.Table("SCOPE", "POLICY", "DAYS", "CUTOFF", dryRun ? "WOULD DELETE" : "DELETING", "JOBS", "REFUSED");
        foreach (var result in run["results"]!.AsArray())
        {
            var targets = result!["targets"]!.AsArray().Select(t => $"{t!["kind"]} {t["id"]}");
            Display.Row(table, $"{result["scopeKind"]} {result["scopeId"]}", (string?)result["policy"], Display.Text(result["days"]), Display.Time(result["cutoff"]),
                string.Join(", ", targets), string.Join(", ", result["jobs"]!.AsArray().Select(j => (string?)j)), string.Join(", ", result["refused"]!.AsArray().Select(r => (string?)r)));
        }

        session.Console.Write(table);
        session.WriteLine(dryRun ? "Dry run: nothing was changed." : "Follow the jobs with: runledger deletions watch <job id>");
        return ExitCodes.Ok;
    }
}
