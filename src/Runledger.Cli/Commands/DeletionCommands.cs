using System.CommandLine;
using Runledger.Cli.Hosting;

namespace Runledger.Cli.Commands;

/// <summary><c>runledger deletions …</c>: deletion jobs under <c>/runledger/v1/deletions</c>.</summary>
internal static class DeletionCommands
{
    public static Command Create(CliEnvironment environment) => new("deletions", "Follow deletion jobs: list, show, watch until done, retry a failed one; preview a delete; restore one within grace.")
    {
        new DeletionsListCommand(environment),
        new DeletionsShowCommand(environment),
        new DeletionsWatchCommand(environment),
        DeletionJobActionCommand.Retry(environment),
        new DeletionsPreviewCommand(environment),
        DeletionJobActionCommand.Restore(environment),
    };

    public static Argument<string> JobId() => new("job-id") { Description = "The deletion job's id (the Runledger-Deletion-Job header of the delete, or from 'deletions list')." };
}
