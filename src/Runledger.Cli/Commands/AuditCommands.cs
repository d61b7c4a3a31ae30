using System.CommandLine;
using Runledger.Cli.Hosting;

namespace Runledger.Cli.Commands;

/// <summary><c>runledger audit …</c>: the hash-chained audit log under <c>/runledger/v1/audit</c>.</summary>
internal static class AuditCommands
{
    public static Command Create(CliEnvironment environment) => new("audit", "Check the audit log's hash chain, or export it as JSON Lines.")
    {
        new AuditVerifyCommand(environment),
        new AuditExportCommand(environment),
    };
}
