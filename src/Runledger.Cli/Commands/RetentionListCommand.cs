using System.CommandLine;
using Runledger.Cli.Hosting;

namespace Runledger.Cli.Commands;

/// <summary><c>runledger retention list</c>: the policies set, and those that can be set.</summary>
internal sealed class RetentionListCommand : ApiCommand
{
    private readonly Option<string?> _scopeKind = new("--scope-kind") { Description = "Only policies of this scope kind, e.g. resource_group." };
    private readonly Option<string?> _scopeId = new("--scope-id") { Description = "Only policies of this scope, e.g. a resource group id." };

    public RetentionListCommand(CliEnvironment environment)
        : base(environment, "list", "List retention policies (and the policies available).")
    {
        Options.Add(_scopeKind);
        Options.Add(_scopeId);
    }

    protected override async Task<int> RunAsync(ParseResult parse, CliSession session, CancellationToken cancellationToken)
    {
        var list = await session.GetAsync(
            "/runledger/v1/retention" + Query.Of(("scopeKind", parse.GetValue(_scopeKind)), ("scopeId", parse.GetValue(_scopeId))), cancellationToken);
        if (session.Json)
        {
            session.WriteJson(list);
            return ExitCodes.Ok;
        }

        var table = Display.Table("SCOPE KIND", "SCOPE", "POLICY", "DAYS", "SET BY", "SET AT");
        foreach (var policy in list["policies"]!.AsArray())
        {
            Display.Row(table, (string?)policy!["scopeKind"], (string?)policy["scopeId"], (string?)policy["policy"], Display.Text(policy["days"]),
                (string?)policy["updatedBy"], Display.Time(policy["updatedAt"]));
        }

        session.Console.Write(table);
        var available = Display.Table("AVAILABLE ON", "POLICY", "DELETES", "WHAT");
        foreach (var info in list["available"]?.AsArray() ?? [])
        {
            Display.Row(available, (string?)info!["scopeKind"], (string?)info["policy"], (string?)info["kind"], (string?)info["description"]);
        }

        session.Console.Write(available);
        return ExitCodes.Ok;
    }
}
