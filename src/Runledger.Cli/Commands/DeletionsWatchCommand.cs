using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Runledger.Cli.Hosting;
using Spectre.Console;

namespace Runledger.Cli.Commands;

/// <summary>
/// <c>runledger deletions watch JOB</c>: polls the job until it ends: done or restored (exit 0), failed or
/// any other end state (exit 4), with a live progress bar of rows removed out of removed + left.
/// </summary>
internal sealed class DeletionsWatchCommand : ApiCommand
{
    private readonly Argument<string> _job = DeletionCommands.JobId();

    private readonly Option<double> _interval = new("--interval")
    {
        HelpName = "SECONDS",
        Description = "Time between two looks at the job.",
        DefaultValueFactory = _ => 1,
    };

    private readonly Option<double?> _timeout = new("--timeout")
    {
        HelpName = "SECONDS",
        Description = "Give up (exit 4) if the job has not finished by then; default: wait as long as it takes.",
    };

    public DeletionsWatchCommand(CliEnvironment environment)
        : base(environment, "watch", "Follow a deletion job with a live progress bar until it ends: done or restored (exit 0), failed (exit 4).")
    {
        Arguments.Add(_job);
        Options.Add(_interval);
        Options.Add(_timeout);
        _interval.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<double>() is <= 0 or > 3600)
            {
                r.AddError("--interval must be above 0 and at most 3600 seconds.");
            }
        });
    }

    protected override async Task<int> RunAsync(ParseResult parse, CliSession session, CancellationToken cancellationToken)
    {
        var path = "/runledger/v1/deletions/" + Uri.EscapeDataString(parse.GetRequiredValue(_job));
        var interval = TimeSpan.FromSeconds(parse.GetValue(_interval));
        using var deadline = parse.GetValue(_timeout) is { } seconds
            ? new CancellationTokenSource(TimeSpan.FromSeconds(seconds), session.Time)
            : new CancellationTokenSource();
        JsonNode job;
        if (session.Json)
        {
            job = await PollAsync(session, path, interval, _ => { }, deadline.Token, cancellationToken);
            session.WriteJson(job);
        }
        else if (!session.Console.Profile.Capabilities.Interactive)
        {
            // Piped or captured: a line whenever something changed, instead of redrawing a bar.
            var last = "";
            job = await PollAsync(session, path, interval, current =>
            {
                var line = Describe(current);
                if (line != last)
                {
                    session.WriteLine(line);
                    last = line;
                }
            }, deadline.Token, cancellationToken);
            DeletionsShowCommand.Write(session.Console, job);
        }
        else
        {
            job = await session.Console.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .StartAsync(async context =>
                {
                    var bar = context.AddTask("waiting", maxValue: 1);
                    return await PollAsync(session, path, interval, current =>
                    {
                        var removed = (double)(long)current["rowsRemoved"]!;
                        var left = current["rowsLeft"]?.AsObject().Sum(p => (long)p.Value!) ?? 0;
                        bar.Description = Describe(current);
                        bar.MaxValue = Math.Max(1, removed + left);
                        bar.Value = (string?)current["state"] == "done" ? bar.MaxValue : removed;
                    }, deadline.Token, cancellationToken);
                });
            DeletionsShowCommand.Write(session.Console, job);
        }

        var state = (string?)job["state"];
        if (state == "done")
        {
            return ExitCodes.Ok;
        }

        if (state == "restored")
        {
            if (!session.Json)
            {
                session.WriteLine($"Deletion job {job["id"]} was restored: the {job["kind"]} {job["targetId"]} is back and nothing was removed.");
            }

            return ExitCodes.Ok;
        }

        await session.Error.WriteLineAsync(state switch
        {
            "failed" => $"Deletion job {job["id"]} failed after {job["attempts"]} attempt(s): {job["error"]}. Fix the cause, then: runledger deletions retry {job["id"]}",
            _ when Open(state) => $"Deletion job {job["id"]} is still {state} after --timeout; watch it again later.",
            _ => $"Deletion job {job["id"]} ended as '{state}', not done; see it with: runledger deletions show {job["id"]}",
        });
        return ExitCodes.CheckFailed;
    }

    /// <summary>Queued or running: the job may still change. Every other state (done, failed, restored, any later one) is an end.</summary>
    private static bool Open(string? state) => state is "queued" or "running";

    private static string Describe(JsonNode job) =>
        $"{job["kind"]} {job["targetId"]}: {job["state"]}, {((long)job["rowsRemoved"]!).ToString("N0", CultureInfo.InvariantCulture)} rows removed"
        + (job["rowsLeft"] is JsonObject left ? $", {left.Sum(p => (long)p.Value!).ToString("N0", CultureInfo.InvariantCulture)} left" : "");

    private static async Task<JsonNode> PollAsync(CliSession session, string path, TimeSpan interval, Action<JsonNode> show, CancellationToken deadline, CancellationToken cancellationToken)
    {
        while (true)
        {
            var job = await session.GetAsync(path, cancellationToken);
            show(job);
            if (!Open((string?)job["state"]) || deadline.IsCancellationRequested)
            {
                return job;
            }

            try
            {
                using var both = CancellationTokenSource.CreateLinkedTokenSource(deadline, cancellationToken);
                await Task.Delay(interval, session.Time, both.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // The deadline passed: one last look, then report.
            }
        }
    }
}
