using System.CommandLine;
using Runledger.Cli.Hosting;

namespace Runledger.Cli.Commands;

/// <summary><c>runledger audit verify</c>: exit 0 when every entry links up, 4 (naming the entry) when not.</summary>
internal sealed class AuditVerifyCommand : ApiCommand
{
    public AuditVerifyCommand(CliEnvironment environment)
        : base(environment, "verify", "Recompute the audit log's hash chain on the server; exit 4 and name the first bad entry if it was tampered with.")
    {
    }

    protected override async Task<int> RunAsync(ParseResult parse, CliSession session, CancellationToken cancellationToken)
    {
        var result = await session.GetAsync("/runledger/v1/audit/verify", cancellationToken);
        var ok = (bool?)result["ok"] == true;
        if (session.Json)
        {
            session.WriteJson(result);
        }
        else if (ok)
        {
            session.WriteLine($"OK: {result["detail"]}");
        }
        else
        {
            session.WriteLine($"BROKEN at entry {result["firstBadSeq"]} of {result["entries"]}: {result["detail"]}");
        }

        return ok ? ExitCodes.Ok : ExitCodes.CheckFailed;
    }
}
