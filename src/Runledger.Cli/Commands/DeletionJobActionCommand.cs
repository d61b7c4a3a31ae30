using System.CommandLine;
using System.Text.Json.Nodes;
using Runledger.Cli.Hosting;

namespace Runledger.Cli.Commands;

/// <summary>
/// <c>runledger deletions retry|restore JOB</c>: one POST to <c>/runledger/v1/deletions/{job}/{action}</c>;
/// prints the job (<c>--output json</c>) or the action's one-line summary.
/// </summary>
internal sealed class DeletionJobActionCommand : ApiCommand
{
    private readonly Argument<string> _job = DeletionCommands.JobId();
    private readonly string _action;
    private readonly Func<string, JsonNode, string> _summary;

    private DeletionJobActionCommand(CliEnvironment environment, string action, string description, Func<string, JsonNode, string> summary)
        : base(environment, action, description)
    {
        _action = action;
        _summary = summary;
        Arguments.Add(_job);
    }

    /// <summary>A failed job goes back to the queue with fresh attempts.</summary>
    public static DeletionJobActionCommand Retry(CliEnvironment environment) => new(
        environment, "retry", "Retry a failed deletion job now, with a fresh set of attempts (refused unless the job failed).",
        (id, job) => $"Deletion job {id} is {job["state"]} again; follow it with: runledger deletions watch {id}");

    /// <summary>Undo a deletion within its grace period.</summary>
    public static DeletionJobActionCommand Restore(CliEnvironment environment) => new(
        environment, "restore", "Undo a deletion while it is within its grace period: the target and everything in it come back as they were.",
        (id, job) => $"Restored {job["kind"]} {job["targetId"]} (scope {job["scope"]}); deletion job {id} is {job["state"]}.");

    protected override async Task<int> RunAsync(ParseResult parse, CliSession session, CancellationToken cancellationToken)
    {
        var id = parse.GetRequiredValue(_job);
        var job = await session.SendAsync(HttpMethod.Post, $"/runledger/v1/deletions/{Uri.EscapeDataString(id)}/{_action}", null, cancellationToken);
        if (session.Json)
        {
            session.WriteJson(job);
        }
        else
        {
            session.WriteLine(_summary(id, job));
        }

        return ExitCodes.Ok;
    }
}
