using System.CommandLine;
using Runledger.Cli.Hosting;

namespace Runledger.Cli.Commands;

/// <summary><c>runledger hold …</c>: legal holds under <c>/runledger/v1/holds</c>.</summary>
internal static class HoldCommands
{
    public static Command Create(CliEnvironment environment) => new("hold", "Put legal holds on resource groups, projects or datasets: deleting them, or anything in them, is refused while held.")
    {
        new HoldSetCommand(environment),
        new HoldClearCommand(environment),
        new HoldListCommand(environment),
    };

    public static Argument<string> Kind() => new("kind") { Description = "What is held, e.g. resource_group." };

    public static Argument<string> Id() => new("id") { Description = "The held thing's id." };

    public static string Path(string kind, string id) => $"/runledger/v1/holds/{Uri.EscapeDataString(kind)}/{Uri.EscapeDataString(id)}";
}
