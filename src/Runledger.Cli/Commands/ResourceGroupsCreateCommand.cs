using System.CommandLine;
using System.Text.Json.Nodes;
using Runledger.Cli.Hosting;

namespace Runledger.Cli.Commands;

/// <summary><c>runledger resource-groups create ID [--label key=value]…</c>.</summary>
internal sealed class ResourceGroupsCreateCommand : ApiCommand
{
    private readonly Argument<string> _id = ResourceGroupCommands.Id();

    private readonly Option<string[]> _labels = new("--label")
    {
        HelpName = "KEY=VALUE",
        Description = "A label (repeatable); keys start with ext.ai.sap.com/.",
        AllowMultipleArgumentsPerToken = false,
    };

    public ResourceGroupsCreateCommand(CliEnvironment environment)
        : base(environment, "create", "Create a resource group.")
    {
        Arguments.Add(_id);
        Options.Add(_labels);
        _labels.Validators.Add(result =>
        {
            foreach (var label in result.GetValueOrDefault<string[]>() ?? [])
            {
                if (label.IndexOf('=', StringComparison.Ordinal) <= 0)
                {
                    result.AddError($"--label '{label}' is not KEY=VALUE (e.g. ext.ai.sap.com/team=vision).");
                }
            }
        });
    }

    protected override async Task<int> RunAsync(ParseResult parse, CliSession session, CancellationToken cancellationToken)
    {
        var id = parse.GetRequiredValue(_id);
        var body = new JsonObject { ["resourceGroupId"] = id };
        var labels = parse.GetValue(_labels) ?? [];
        if (labels.Length > 0)
        {
            body["labels"] = new JsonArray(labels.Select(l => (JsonNode?)new JsonObject { ["key"] = l[..l.IndexOf('=', StringComparison.Ordinal)], ["value"] = l[(l.IndexOf('=', StringComparison.Ordinal) + 1)..] }).ToArray());
        }

        var created = await session.SendAsync(HttpMethod.Post, "/v2/admin/resourceGroups", body, cancellationToken);
        if (session.Json)
        {
            session.WriteJson(created);
        }
        else
        {
            session.WriteLine($"Created resource group {created["resourceGroupId"]}.");
        }

        return ExitCodes.Ok;
    }
}
