using System.CommandLine;
using System.Text.Json.Nodes;
using Runledger.Cli.Hosting;

namespace Runledger.Cli.Commands;

/// <summary><c>runledger deletions list</c>: newest first, filtered; <c>--all</c> follows the cursor to the end.</summary>
internal sealed class DeletionsListCommand : ApiCommand
{
    private readonly Option<string?> _state = new("--state") { Description = "queued, running, done, failed or restored." };
    private readonly Option<string?> _kind = new("--kind") { Description = "The kind deleted, e.g. resource_group, execution, metrics." };
    private readonly Option<string?> _scope = new("--scope") { Description = "The resource group (AI API) or organisation (LLM Obs) the target lives in." };
    private readonly Option<string?> _target = new("--target") { Description = "The id of the deleted thing." };
    private readonly Option<string?> _project = new("--project") { Description = "The LLM Obs project the deleted thing belongs to (jobs scheduled with a parent)." };
    private readonly Option<string?> _from = new("--from") { HelpName = "TIME", Description = "Requested at or after this ISO 8601 time." };
    private readonly Option<string?> _to = new("--to") { HelpName = "TIME", Description = "Requested before this ISO 8601 time." };
    private readonly Option<int> _limit = new("--limit") { Description = "Jobs per page (1-1000).", DefaultValueFactory = _ => 100 };
    private readonly Option<string?> _cursor = new("--cursor") { Description = "The nextCursor of the previous page." };
    private readonly Option<bool> _all = new("--all") { Description = "Fetch every page." };

    public DeletionsListCommand(CliEnvironment environment)
        : base(environment, "list", "List deletion jobs, newest first.")
    {
        Options.Add(_state);
        Options.Add(_kind);
        Options.Add(_scope);
        Options.Add(_target);
        Options.Add(_project);
        Options.Add(_from);
        Options.Add(_to);
        Options.Add(_limit);
        Options.Add(_cursor);
        Options.Add(_all);
        _state.AcceptOnlyFromAmong("queued", "running", "done", "failed", "restored");
    }

    protected override async Task<int> RunAsync(ParseResult parse, CliSession session, CancellationToken cancellationToken)
    {
        var query = Query.Of(
            ("state", parse.GetValue(_state)),
            ("kind", parse.GetValue(_kind)),
            ("scope", parse.GetValue(_scope)),
            ("targetId", parse.GetValue(_target)),
            ("project", parse.GetValue(_project)),
            ("from", parse.GetValue(_from)),
            ("to", parse.GetValue(_to)),
            ("limit", parse.GetValue(_limit).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var jobs = new JsonArray();
        var cursor = parse.GetValue(_cursor);
        JsonNode page;
        do
        {
            page = await session.GetAsync("/runledger/v1/deletions" + query + (cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor)), cancellationToken);
            foreach (var job in page["jobs"]!.AsArray())
            {
                jobs.Add(job!.DeepClone());
            }

            cursor = (string?)page["nextCursor"];
        }
        while (parse.GetValue(_all) && cursor is not null);

        if (session.Json)
        {
            session.WriteJson(new JsonObject { ["jobs"] = jobs, ["nextCursor"] = cursor });
            return ExitCodes.Ok;
        }

        var table = Display.Table("ID", "KIND", "TARGET", "SCOPE", "STATE", "REQUESTED", "ROWS REMOVED", "ATTEMPTS");
        foreach (var job in jobs)
        {
            Display.Row(table, (string?)job!["id"], (string?)job["kind"], (string?)job["targetId"], (string?)job["scope"], (string?)job["state"],
                Display.Time(job["requestedAt"]), Display.Number(job["rowsRemoved"]), Display.Text(job["attempts"]));
        }

        session.Console.Write(table);
        session.WriteLine(cursor is null ? $"{jobs.Count} job(s)." : $"{jobs.Count} job(s); more with --cursor {cursor} (or --all).");
        return ExitCodes.Ok;
    }
}
