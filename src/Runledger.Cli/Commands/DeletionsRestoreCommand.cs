using System.CommandLine;
using Runledger.Cli.Hosting;

namespace Runledger.Cli.Commands;

/// <summary><c>runledger deletions restore JOB</c>: undo a deletion within its grace period.</summary>
internal sealed class DeletionsRestoreCommand : ApiCommand
{
    private readonly Argument<string> _job = DeletionCommands.JobId();

    public DeletionsRestoreCommand(CliEnvironment environment)
        : base(environment, "restore", "Undo a deletion while it is within its grace period: the target and everything in it come back as they were.") =>
        Arguments.Add(_job);

    protected override async Task<int> RunAsync(ParseResult parse, CliSession session, CancellationToken cancellationToken)
    {
        var id = parse.GetRequiredValue(_job);
        var job = await session.SendAsync(HttpMethod.Post, $"/runledger/v1/deletions/{Uri.EscapeDataString(id)}/restore", null, cancellationToken);
        if (session.Json)
        {
            session.WriteJson(job);
        }
        else
        {
            session.WriteLine($"Restored {job["kind"]} {job["targetId"]} (scope {job["scope"]}); deletion job {id} is {job["state"]}.");
        }

        return ExitCodes.Ok;
    }
}
