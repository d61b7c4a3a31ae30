using System.CommandLine;
using Runledger.Cli.Hosting;

namespace Runledger.Cli.Commands;

/// <summary><c>runledger credentials list</c>: never shows secrets (the server does not have them).</summary>
internal sealed class CredentialsListCommand : ApiCommand
{
    private readonly Option<string?> _kind = new("--kind") { Description = "Only this kind." };
    private readonly Option<bool> _revoked = new("--include-revoked") { Description = "Also list revoked credentials." };

    public CredentialsListCommand(CliEnvironment environment)
        : base(environment, "list", "List credentials (without secrets).")
    {
        _kind.AcceptOnlyFromAmong(CredentialCommands.Kinds);
        Options.Add(_kind);
        Options.Add(_revoked);
    }

    protected override async Task<int> RunAsync(ParseResult parse, CliSession session, CancellationToken cancellationToken)
    {
        var list = await session.GetAsync(
            "/runledger/v1/credentials" + Query.Of(("kind", parse.GetValue(_kind)), ("includeRevoked", parse.GetValue(_revoked) ? "true" : null)),
            cancellationToken);
        if (session.Json)
        {
            session.WriteJson(list);
            return ExitCodes.Ok;
        }

        var table = Display.Table("ID", "KIND", "NAME", "SCOPES", "ORG", "CLIENT ID", "CREATED", "REVOKED");
        foreach (var credential in list["credentials"]!.AsArray())
        {
            Display.Row(table, (string?)credential!["id"], (string?)credential["kind"], (string?)credential["name"],
                string.Join(' ', credential["scopes"]!.AsArray().Select(s => (string?)s)), (string?)credential["orgId"], (string?)credential["clientId"],
                Display.Time(credential["createdAt"]), Display.Time(credential["revokedAt"]));
        }

        session.Console.Write(table);
        return ExitCodes.Ok;
    }
}
