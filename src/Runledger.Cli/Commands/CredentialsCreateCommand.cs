using System.CommandLine;
using System.Text.Json.Nodes;
using Runledger.Cli.Hosting;

namespace Runledger.Cli.Commands;

/// <summary><c>runledger credentials create</c>: prints the secret, which the server will never show again.</summary>
internal sealed class CredentialsCreateCommand : ApiCommand
{
    private readonly Option<string> _kind = new("--kind") { Required = true, Description = "bearer_token, oauth_client, dd_api_key or dd_app_key." };
    private readonly Option<string> _name = new("--name") { Required = true, Description = "Who or what will use it (shown in lists)." };
    private readonly Option<string[]> _scopes = new("--scope") { Description = "admin, read or write (repeat for several). A dd_api_key takes none.", AllowMultipleArgumentsPerToken = false };
    private readonly Option<string?> _org = new("--org") { Description = "Organisation (Datadog keys: both keys of a pair must share it). Default: default." };

    public CredentialsCreateCommand(CliEnvironment environment)
        : base(environment, "create", "Create a credential; its secret is printed once and never again.")
    {
        _kind.AcceptOnlyFromAmong(CredentialCommands.Kinds);
        _scopes.AcceptOnlyFromAmong("admin", "read", "write");
        Options.Add(_kind);
        Options.Add(_name);
        Options.Add(_scopes);
        Options.Add(_org);
    }

    protected override async Task<int> RunAsync(ParseResult parse, CliSession session, CancellationToken cancellationToken)
    {
        var body = new JsonObject
        {
            ["kind"] = parse.GetRequiredValue(_kind),
            ["name"] = parse.GetRequiredValue(_name),
            ["scopes"] = new JsonArray((parse.GetValue(_scopes) ?? []).Select(s => (JsonNode?)s).ToArray()),
        };
        if (parse.GetValue(_org) is { } org)
        {
            body["orgId"] = org;
        }

        var created = await session.SendAsync(HttpMethod.Post, "/runledger/v1/credentials", body, cancellationToken);
        if (session.Json)
        {
            session.WriteJson(created);
            return ExitCodes.Ok;
        }

        session.Console.Write(Display.Fields(
            ("Id", (string?)created["id"]),
            ("Kind", (string?)created["kind"]),
            ("Name", (string?)created["name"]),
            ("Scopes", string.Join(' ', created["scopes"]!.AsArray().Select(s => (string?)s))),
            ("Organisation", (string?)created["orgId"]),
            ("Client id", (string?)created["clientId"]),
            ("Secret", (string?)created["secret"])));
        session.WriteLine("Store the secret now: the server keeps only its hash and will not show it again.");
        return ExitCodes.Ok;
    }
}
