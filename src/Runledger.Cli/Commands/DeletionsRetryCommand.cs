using System.CommandLine;
using Runledger.Cli.Hosting;

namespace Runledger.Cli.Commands;

/// <summary><c>runledger deletions retry JOB</c>: a failed job goes back to the queue with fresh attempts.</summary>
internal sealed class DeletionsRetryCommand : ApiCommand
{
    private readonly Argument<string> _job = DeletionCommands.JobId();

    public DeletionsRetryCommand(CliEnvironment environment)
        : base(environment, "retry", "Retry a failed deletion job now, with a fresh set of attempts (refused unless the job failed).") =>
        Arguments.Add(_job);

    protected override async Task<int> RunAsync(ParseResult parse, CliSession session, CancellationToken cancellationToken)
    {
        var id = parse.GetRequiredValue(_job);
        var job = await session.SendAsync(HttpMethod.Post, $"/runledger/v1/deletions/{Uri.EscapeDataString(id)}/retry", null, cancellationToken);
        if (session.Json)
        {
            session.WriteJson(job);
        }
        else
        {
            session.WriteLine($"Deletion job {id} is {job["state"]} again; follow it with: runledger deletions watch {id}");
        }

        return ExitCodes.Ok;
    }
}
