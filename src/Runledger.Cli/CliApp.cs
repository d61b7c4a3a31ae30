using System.CommandLine;
using Runledger.Cli.Commands;
using Runledger.Cli.Hosting;

namespace Runledger.Cli;

/// <summary>
/// The <c>runledger</c> command line: builds the command tree and runs it. Tests call
/// <c>RunAsync</c> with their own writers and variables, against a live server.
/// </summary>
public static class CliApp
{
    public static Task<int> RunAsync(string[] args, TextWriter output, TextWriter error) =>
        RunAsync(args, output, error, Environment.GetEnvironmentVariable, TimeProvider.System, CancellationToken.None);

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, Func<string, string?> variables, TimeProvider time, CancellationToken cancellationToken)
    {
        var environment = new CliEnvironment(output, error, variables, time);
        var root = BuildRoot(environment);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var parseError in parse.Errors)
            {
                await error.WriteLineAsync(parseError.Message);
            }

            await error.WriteLineAsync($"Run '{string.Join(' ', CommandPath(parse.CommandResult.Command))} --help' to see what it takes.");
            return ExitCodes.Usage;
        }

        return await parse.InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, cancellationToken);
    }

    internal static RootCommand BuildRoot(CliEnvironment environment)
    {
        var root = new RootCommand(
            "runledger: operate a Runledger server over its admin API — follow and retry deletions, check and export the audit log, " +
            "manage credentials and resource groups. Exit codes: 0 ok, 1 the server refused, 2 usage error, 3 server unreachable, 4 check failed.")
        {
            GlobalOptions.Server,
            GlobalOptions.Token,
            GlobalOptions.Output,
            DeletionCommands.Create(environment),
            AuditCommands.Create(environment),
            HoldCommands.Create(environment),
            RetentionCommands.Create(environment),
            CredentialCommands.Create(environment),
            ResourceGroupCommands.Create(environment),
        };
        return root;
    }

    private static List<string> CommandPath(Command command)
    {
        var names = new List<string>();
        for (Symbol? symbol = command; symbol is Command current; symbol = current.Parents.FirstOrDefault())
        {
            names.Insert(0, current is RootCommand ? "runledger" : current.Name);
        }

        return names;
    }
}
