using System.CommandLine;
using System.Text.Json.Nodes;
using Runledger.Cli.Hosting;
using Spectre.Console;

namespace Runledger.Cli.Commands;

/// <summary><c>runledger deletions show JOB</c>: one job, with rows removed and left per child.</summary>
internal sealed class DeletionsShowCommand : ApiCommand
{
    private readonly Argument<string> _job = DeletionCommands.JobId();

    public DeletionsShowCommand(CliEnvironment environment)
        : base(environment, "show", "Show one deletion job: state, times, attempts, rows removed and left per child.") =>
        Arguments.Add(_job);

    protected override async Task<int> RunAsync(ParseResult parse, CliSession session, CancellationToken cancellationToken)
    {
        var job = await session.GetAsync("/runledger/v1/deletions/" + Uri.EscapeDataString(parse.GetRequiredValue(_job)), cancellationToken);
        if (session.Json)
        {
            session.WriteJson(job);
            return ExitCodes.Ok;
        }

        Write(session.Console, job);
        return ExitCodes.Ok;
    }

    public static void Write(IAnsiConsole console, JsonNode job)
    {
        console.Write(Display.Fields(
            ("Job", (string?)job["id"]),
            ("Target", $"{job["kind"]} {job["targetId"]} (scope {job["scope"]})"),
            ("State", (string?)job["state"]),
            ("Requested by", (string?)job["requestedBy"]),
            ("Requested", Display.Time(job["requestedAt"])),
            ("Started", Display.Time(job["startedAt"])),
            ("Finished", Display.Time(job["finishedAt"])),
            ("Attempts", Display.Text(job["attempts"])),
            ("Next attempt", Display.Time(job["nextAttemptAt"])),
            ("Worked by", (string?)job["leaseOwner"]),
            ("Rows removed", Display.Number(job["rowsRemoved"])),
            ("Error", (string?)job["error"])));
        var removed = job["removed"]?.AsObject() ?? [];
        var left = job["rowsLeft"]?.AsObject();
        var children = removed.Select(p => p.Key).Concat(left?.Select(p => p.Key) ?? []).Distinct(StringComparer.Ordinal).ToList();
        if (children.Count == 0)
        {
            return;
        }

        var table = Display.Table("CHILD", "REMOVED", "LEFT");
        foreach (var child in children)
        {
            Display.Row(table, child, Display.Number(removed[child] ?? 0), left is null ? "-" : Display.Number(left[child] ?? 0));
        }

        console.Write(table);
    }
}
