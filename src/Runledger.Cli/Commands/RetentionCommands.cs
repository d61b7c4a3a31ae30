using System.CommandLine;
using Runledger.Cli.Hosting;

namespace Runledger.Cli.Commands;

/// <summary><c>runledger retention …</c>: retention policies under <c>/runledger/v1/retention</c>.</summary>
internal static class RetentionCommands
{
    public static Command Create(CliEnvironment environment) => new("retention", "Retention policies per scope: list them, set one, run them now (or as a dry run).")
    {
        new RetentionListCommand(environment),
        new RetentionSetCommand(environment),
        new RetentionRunCommand(environment),
    };
}
