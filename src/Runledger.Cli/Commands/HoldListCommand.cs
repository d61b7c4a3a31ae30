using System.CommandLine;
using Runledger.Cli.Hosting;

namespace Runledger.Cli.Commands;

/// <summary><c>runledger hold list</c>.</summary>
internal sealed class HoldListCommand : ApiCommand
{
    public HoldListCommand(CliEnvironment environment)
        : base(environment, "list", "List legal holds.")
    {
    }

    protected override async Task<int> RunAsync(ParseResult parse, CliSession session, CancellationToken cancellationToken)
    {
        var list = await session.GetAsync("/runledger/v1/holds", cancellationToken);
        if (session.Json)
        {
            session.WriteJson(list);
            return ExitCodes.Ok;
        }

        var table = Display.Table("KIND", "ID", "SCOPE", "REASON", "HELD BY", "SINCE");
        foreach (var hold in list["holds"]!.AsArray())
        {
            Display.Row(table, (string?)hold!["kind"], (string?)hold["id"], (string?)hold["scope"], (string?)hold["reason"], (string?)hold["heldBy"], Display.Time(hold["heldAt"]));
        }

        session.Console.Write(table);
        return ExitCodes.Ok;
    }
}
