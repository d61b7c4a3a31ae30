using System.CommandLine;
using System.Text.Json.Nodes;
using Runledger.Cli.Hosting;
using Spectre.Console;

namespace Runledger.Cli.Commands;

/// <summary><c>runledger deletions preview KIND ID…</c>: what deleting would remove, changing nothing.</summary>
internal sealed class DeletionsPreviewCommand : ApiCommand
{
    private readonly Argument<string> _kind = new("kind") { Description = "What would be deleted, e.g. resource_group, execution, metrics." };
    private readonly Argument<string[]> _ids = new("id") { Description = "One or more ids of that kind (up to 100).", Arity = ArgumentArity.OneOrMore };
    private readonly Option<string?> _scope = new("--scope") { Description = "The resource group or organisation the targets live in (a resource group is its own scope)." };

    public DeletionsPreviewCommand(CliEnvironment environment)
        : base(environment, "preview", "Dry-run: show what deleting the targets would remove (rows per child, sample ids, grace, holds) without changing anything.")
    {
        Arguments.Add(_kind);
        Arguments.Add(_ids);
        Options.Add(_scope);
    }

    protected override async Task<int> RunAsync(ParseResult parse, CliSession session, CancellationToken cancellationToken)
    {
        var kind = parse.GetRequiredValue(_kind);
        var scope = parse.GetValue(_scope);
        var targets = new JsonArray(parse.GetRequiredValue(_ids).Select(id =>
        {
            var target = new JsonObject { ["kind"] = kind, ["id"] = id };
            if (scope is not null)
            {
                target["scope"] = scope;
            }

            return (JsonNode?)target;
        }).ToArray());
        var preview = await session.SendAsync(HttpMethod.Post, "/runledger/v1/deletions/preview", new JsonObject { ["targets"] = targets }, cancellationToken);
        if (session.Json)
        {
            session.WriteJson(preview);
            return ExitCodes.Ok;
        }

        foreach (var target in preview["targets"]!.AsArray())
        {
            var hold = target!["hold"];
            session.Console.Write(Display.Fields(
                ("Target", $"{target["kind"]} {target["id"]} (scope {target["scope"]})"),
                ("Found", (bool?)target["found"] == true ? "yes" : "no (missing, or already being deleted)"),
                ("Grace", $"{target["grace"]} (restorable: {((bool?)target["restorable"] == true ? "yes" : "no")})"),
                ("Held", hold is null ? "no" : $"{hold["kind"]} {hold["id"]}: {hold["reason"]} — the delete would be refused")));
            var table = Display.Table("WOULD REMOVE", "ROWS", "SAMPLE");
            var samples = target["samples"]?.AsObject();
            foreach (var (child, rows) in target["rows"]?.AsObject() ?? [])
            {
                var sample = samples?[child]?.AsArray().Select(s => (string?)s) ?? [];
                Display.Row(table, child, Display.Number(rows), string.Join(", ", sample));
            }

            session.Console.Write(table);
        }

        return ExitCodes.Ok;
    }
}
