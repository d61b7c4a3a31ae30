using System.CommandLine;
using Runledger.Cli.Hosting;

namespace Runledger.Cli.Commands;

/// <summary><c>runledger resource-groups …</c>: the AI API's <c>/v2/admin/resourceGroups</c>, with the admin token.</summary>
internal static class ResourceGroupCommands
{
    public static Command Create(CliEnvironment environment) => new("resource-groups", "List, create and delete AI API resource groups.")
    {
        new ResourceGroupsListCommand(environment),
        new ResourceGroupsCreateCommand(environment),
        new ResourceGroupsDeleteCommand(environment),
    };

    public static Argument<string> Id() => new("resource-group-id") { Description = "3 to 253 letters, digits, '.' and '-'." };
}
