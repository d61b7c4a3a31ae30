using System.CommandLine;
using System.Text.Json.Nodes;
using Runledger.Cli.Hosting;

namespace Runledger.Cli.Commands;

/// <summary><c>runledger hold set KIND ID --reason …</c>.</summary>
internal sealed class HoldSetCommand : ApiCommand
{
    private readonly Argument<string> _kind = HoldCommands.Kind();
    private readonly Argument<string> _id = HoldCommands.Id();
    private readonly Option<string> _reason = new("--reason") { Required = true, Description = "Why the data must be kept, e.g. a case number." };
    private readonly Option<string?> _scope = new("--scope") { Description = "The resource group or organisation it lives in (a resource group is its own scope)." };

    public HoldSetCommand(CliEnvironment environment)
        : base(environment, "set", "Put (or replace) a legal hold.")
    {
        Arguments.Add(_kind);
        Arguments.Add(_id);
        Options.Add(_reason);
        Options.Add(_scope);
    }

    protected override async Task<int> RunAsync(ParseResult parse, CliSession session, CancellationToken cancellationToken)
    {
        var (kind, id) = (parse.GetRequiredValue(_kind), parse.GetRequiredValue(_id));
        var hold = await session.SendAsync(
            HttpMethod.Put,
            HoldCommands.Path(kind, id) + Query.Of(("scope", parse.GetValue(_scope))),
            new JsonObject { ["reason"] = parse.GetRequiredValue(_reason) },
            cancellationToken);
        if (session.Json)
        {
            session.WriteJson(hold);
        }
        else
        {
            session.WriteLine($"Held {hold["kind"]} {hold["id"]} (scope {hold["scope"]}): {hold["reason"]}");
        }

        return ExitCodes.Ok;
    }
}
