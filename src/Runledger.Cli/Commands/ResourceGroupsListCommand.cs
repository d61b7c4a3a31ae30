using System.CommandLine;
using System.Text.Json.Nodes;
using Runledger.Cli.Hosting;

namespace Runledger.Cli.Commands;

/// <summary><c>runledger resource-groups list</c>: every page of <c>GET /v2/admin/resourceGroups</c>.</summary>
internal sealed class ResourceGroupsListCommand : ApiCommand
{
    public ResourceGroupsListCommand(CliEnvironment environment)
        : base(environment, "list", "List resource groups.")
    {
    }

    protected override async Task<int> RunAsync(ParseResult parse, CliSession session, CancellationToken cancellationToken)
    {
        var list = await session.GetAsync("/v2/admin/resourceGroups", cancellationToken);
        if (session.Json)
        {
            session.WriteJson(list);
            return ExitCodes.Ok;
        }

        var table = Display.Table("RESOURCE GROUP", "STATUS", "CREATED", "LABELS");
        foreach (var group in list["resources"]?.AsArray() ?? [])
        {
            var labels = group!["labels"]?.AsArray().Select(l => $"{l!["key"]}={l["value"]}") ?? [];
            Display.Row(table, (string?)group["resourceGroupId"], (string?)group["status"], Display.Time(group["createdAt"]), string.Join(", ", labels));
        }

        session.Console.Write(table);
        session.WriteLine($"{list["count"] ?? JsonValue.Create(0)} resource group(s).");
        return ExitCodes.Ok;
    }
}
