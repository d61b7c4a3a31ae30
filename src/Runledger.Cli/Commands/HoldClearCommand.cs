using System.CommandLine;
using Runledger.Cli.Hosting;

namespace Runledger.Cli.Commands;

/// <summary><c>runledger hold clear KIND ID</c>.</summary>
internal sealed class HoldClearCommand : ApiCommand
{
    private readonly Argument<string> _kind = HoldCommands.Kind();
    private readonly Argument<string> _id = HoldCommands.Id();

    public HoldClearCommand(CliEnvironment environment)
        : base(environment, "clear", "Lift a legal hold.")
    {
        Arguments.Add(_kind);
        Arguments.Add(_id);
    }

    protected override async Task<int> RunAsync(ParseResult parse, CliSession session, CancellationToken cancellationToken)
    {
        var (kind, id) = (parse.GetRequiredValue(_kind), parse.GetRequiredValue(_id));
        await session.SendAsync(HttpMethod.Delete, HoldCommands.Path(kind, id), null, cancellationToken);
        if (session.Json)
        {
            session.WriteJson(new System.Text.Json.Nodes.JsonObject { ["kind"] = kind, ["id"] = id, ["cleared"] = true });
        }
        else
        {
            session.WriteLine($"Cleared the hold on {kind} {id}.");
        }

        return ExitCodes.Ok;
    }
}
