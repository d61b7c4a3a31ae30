using System.CommandLine;
using System.Text.Json.Nodes;
using Runledger.Cli.Hosting;

namespace Runledger.Cli.Commands;

/// <summary><c>runledger retention set SCOPE-KIND SCOPE-ID POLICY --days N</c>.</summary>
internal sealed class RetentionSetCommand : ApiCommand
{
    private readonly Argument<string> _scopeKind = new("scope-kind") { Description = "e.g. resource_group." };
    private readonly Argument<string> _scopeId = new("scope-id") { Description = "e.g. the resource group id." };
    private readonly Argument<string> _policy = new("policy") { Description = "e.g. terminal_executions or metrics ('retention list' shows them)." };
    private readonly Option<long> _days = new("--days") { Required = true, Description = "Delete what is older than this many days (1-36500)." };

    public RetentionSetCommand(CliEnvironment environment)
        : base(environment, "set", "Set (or change) a retention policy of a scope.")
    {
        Arguments.Add(_scopeKind);
        Arguments.Add(_scopeId);
        Arguments.Add(_policy);
        Options.Add(_days);
    }

    protected override async Task<int> RunAsync(ParseResult parse, CliSession session, CancellationToken cancellationToken)
    {
        var path = $"/runledger/v1/retention/{Uri.EscapeDataString(parse.GetRequiredValue(_scopeKind))}/{Uri.EscapeDataString(parse.GetRequiredValue(_scopeId))}/{Uri.EscapeDataString(parse.GetRequiredValue(_policy))}";
        var policy = await session.SendAsync(HttpMethod.Put, path, new JsonObject { ["days"] = parse.GetValue(_days) }, cancellationToken);
        if (session.Json)
        {
            session.WriteJson(policy);
        }
        else
        {
            session.WriteLine($"Retention {policy["policy"]} on {policy["scopeKind"]} {policy["scopeId"]}: {policy["days"]} days. Preview it with: runledger retention run --dry-run");
        }

        return ExitCodes.Ok;
    }
}
