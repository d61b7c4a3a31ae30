using System.CommandLine;

namespace Runledger.Cli.Hosting;

/// <summary>
/// A command that talks to the server: the base resolves <c>--server</c>/<c>--token</c>/<c>--output</c>
/// into a <see cref="CliSession"/>, runs the command, and maps failures to exit codes and messages.
/// </summary>
internal abstract class ApiCommand : Command
{
    protected ApiCommand(CliEnvironment environment, string name, string description)
        : base(name, description) =>
        SetAction(async (parse, cancellationToken) =>
        {
            try
            {
                using var session = environment.Connect(parse);
                return await RunAsync(parse, session.Session, cancellationToken);
            }
            catch (CliException ex)
            {
                await environment.Error.WriteLineAsync(ex.Message);
                return ex.ExitCode;
            }
        });

    protected abstract Task<int> RunAsync(ParseResult parse, CliSession session, CancellationToken cancellationToken);
}
