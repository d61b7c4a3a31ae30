using System.CommandLine;
using Runledger.Cli.Hosting;

namespace Runledger.Cli.Commands;

/// <summary><c>runledger audit export</c>: JSON Lines (one entry per line) to stdout or a file, streamed as it arrives.</summary>
internal sealed class AuditExportCommand : ApiCommand
{
    private readonly Option<string?> _action = new("--action") { Description = "e.g. deletion.requested, deletion.finished, credential.created." };
    private readonly Option<string?> _targetKind = new("--target-kind") { Description = "e.g. resource_group, execution, credential." };
    private readonly Option<string?> _targetId = new("--target-id") { Description = "The id of the thing the entry is about." };
    private readonly Option<string?> _actor = new("--actor") { Description = "The credential id that acted, or 'system'." };
    private readonly Option<string?> _job = new("--job") { Description = "A deletion job id." };
    private readonly Option<string?> _from = new("--from") { HelpName = "TIME", Description = "At or after this ISO 8601 time." };
    private readonly Option<string?> _to = new("--to") { HelpName = "TIME", Description = "Before this ISO 8601 time." };
    private readonly Option<FileInfo?> _file = new("--file") { HelpName = "PATH", Description = "Write to this file instead of standard output." };

    public AuditExportCommand(CliEnvironment environment)
        : base(environment, "export", "Export audit entries as JSON Lines (application/x-ndjson), oldest first; --output does not apply.")
    {
        Options.Add(_action);
        Options.Add(_targetKind);
        Options.Add(_targetId);
        Options.Add(_actor);
        Options.Add(_job);
        Options.Add(_from);
        Options.Add(_to);
        Options.Add(_file);
    }

    protected override async Task<int> RunAsync(ParseResult parse, CliSession session, CancellationToken cancellationToken)
    {
        var query = Query.Of(
            ("action", parse.GetValue(_action)),
            ("targetKind", parse.GetValue(_targetKind)),
            ("targetId", parse.GetValue(_targetId)),
            ("actor", parse.GetValue(_actor)),
            ("jobId", parse.GetValue(_job)),
            ("from", parse.GetValue(_from)),
            ("to", parse.GetValue(_to)));
        using var response = await session.SendRawAsync(HttpMethod.Get, "/runledger/v1/audit/export" + query, null, cancellationToken);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
        var file = parse.GetValue(_file);
        TextWriter target;
        try
        {
            target = file is null ? session.Output : new StreamWriter(file.FullName, append: false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CliException(ExitCodes.Usage, $"--file '{file!.FullName}' cannot be written: {ex.Message}");
        }

        var lines = 0L;
        try
        {
            while (await reader.ReadLineAsync(cancellationToken) is { } line)
            {
                if (line.Length > 0)
                {
                    await target.WriteLineAsync(line);
                    lines++;
                }
            }
        }
        finally
        {
            if (file is not null)
            {
                await target.DisposeAsync();
            }
        }

        if (file is not null)
        {
            await session.Error.WriteLineAsync($"Wrote {lines} audit entries to {file.FullName}.");
        }

        return ExitCodes.Ok;
    }
}
