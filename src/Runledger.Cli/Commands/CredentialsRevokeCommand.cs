using System.CommandLine;
using Runledger.Cli.Hosting;

namespace Runledger.Cli.Commands;

/// <summary><c>runledger credentials revoke ID</c>: refused from the next request on.</summary>
internal sealed class CredentialsRevokeCommand : ApiCommand
{
    private readonly Argument<string> _id = new("credential-id") { Description = "The credential's id (from 'credentials list')." };

    public CredentialsRevokeCommand(CliEnvironment environment)
        : base(environment, "revoke", "Revoke a credential at once. JWTs already issued to a revoked OAuth client stay valid until they expire.") =>
        Arguments.Add(_id);

    protected override async Task<int> RunAsync(ParseResult parse, CliSession session, CancellationToken cancellationToken)
    {
        var id = parse.GetRequiredValue(_id);
        var revoked = await session.SendAsync(HttpMethod.Delete, "/runledger/v1/credentials/" + Uri.EscapeDataString(id), null, cancellationToken);
        if (session.Json)
        {
            session.WriteJson(revoked);
        }
        else
        {
            session.WriteLine($"Revoked {revoked["kind"]} {id} ('{revoked["name"]}') at {Display.Time(revoked["revokedAt"])}.");
        }

        return ExitCodes.Ok;
    }
}
