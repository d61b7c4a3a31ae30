using System.CommandLine;
using Runledger.Cli.Hosting;

namespace Runledger.Cli.Commands;

/// <summary><c>runledger credentials …</c>: <c>/runledger/v1/credentials</c>.</summary>
internal static class CredentialCommands
{
    public static readonly string[] Kinds = ["bearer_token", "oauth_client", "dd_api_key", "dd_app_key"];

    public static Command Create(CliEnvironment environment) => new("credentials", "Create, list and revoke credentials: AI API bearer tokens, OAuth clients, Datadog API and application keys.")
    {
        new CredentialsCreateCommand(environment),
        new CredentialsListCommand(environment),
        new CredentialsRevokeCommand(environment),
    };
}
