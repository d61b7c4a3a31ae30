using System.CommandLine;

namespace Runledger.Cli.Hosting;

/// <summary>Options every command takes (recursive on the root command).</summary>
internal static class GlobalOptions
{
    public const string DefaultServer = "http://127.0.0.1:8080";
    public const string ServerVariable = "RUNLEDGER_URL";
    public const string TokenVariable = "RUNLEDGER_ADMIN_TOKEN";

    public static Option<string?> Server { get; } = new("--server")
    {
        HelpName = "URL",
        Description = $"The Runledger server (default: ${ServerVariable}, else {DefaultServer}).",
        Recursive = true,
    };

    public static Option<string?> Token { get; } = new("--token")
    {
        HelpName = "TOKEN",
        Description = $"An admin bearer token (default: ${TokenVariable}).",
        Recursive = true,
    };

    public static Option<string> Output { get; } = CreateOutput();

    private static Option<string> CreateOutput()
    {
        var option = new Option<string>("--output", "-o")
        {
            HelpName = "FORMAT",
            Description = "table (for people, default) or json (the server's JSON, for scripts).",
            DefaultValueFactory = _ => "table",
            Recursive = true,
        };
        option.AcceptOnlyFromAmong("table", "json");
        return option;
    }
}
