namespace Runledger.Cli.Hosting;

/// <summary>What <c>runledger</c> exits with; scripts branch on these (documented in README "CLI").</summary>
public static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>The server answered with an error: not found, conflict, invalid input, refused credentials.</summary>
    public const int Refused = 1;

    /// <summary>The command line is wrong (unknown command or option, missing argument, no token, bad URL); nothing was sent.</summary>
    public const int Usage = 2;

    /// <summary>No answer from the server: connection refused, unknown host, timeout.</summary>
    public const int Unreachable = 3;

    /// <summary>The server answered, and the answer is bad news: <c>audit verify</c> found a broken chain, <c>deletions watch</c> saw the job fail.</summary>
    public const int CheckFailed = 4;
}

/// <summary>Ends a command with an exit code and a message that says what to fix.</summary>
internal sealed class CliException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
