using System.CommandLine;
using System.Net.Http.Headers;
using Spectre.Console;

namespace Runledger.Cli.Hosting;

/// <summary>
/// What a run of the CLI gets from outside: its output streams, environment variables and clock.
/// Tests pass their own, so the CLI runs in-process with captured output.
/// </summary>
internal sealed class CliEnvironment(TextWriter output, TextWriter error, Func<string, string?> variables, TimeProvider time)
{
    public TextWriter Output { get; } = output;

    public TextWriter Error { get; } = error;

    public TimeProvider Time { get; } = time;

    /// <summary>Builds the session from the global options, or fails with a usage error that says what is missing.</summary>
    public Connection Connect(ParseResult parse)
    {
        var serverText = parse.GetValue(GlobalOptions.Server)
            ?? (variables(GlobalOptions.ServerVariable) is { Length: > 0 } fromEnvironment ? fromEnvironment : GlobalOptions.DefaultServer);
        if (!Uri.TryCreate(serverText, UriKind.Absolute, out var server) || server.Scheme is not ("http" or "https"))
        {
            throw new CliException(ExitCodes.Usage, $"--server '{serverText}' is not an http(s) URL; use e.g. {GlobalOptions.DefaultServer}.");
        }

        var token = parse.GetValue(GlobalOptions.Token) ?? variables(GlobalOptions.TokenVariable);
        if (string.IsNullOrWhiteSpace(token))
        {
            throw new CliException(ExitCodes.Usage,
                $"No admin token: pass --token or set {GlobalOptions.TokenVariable} (the server prints one on its first start; or start the server with {GlobalOptions.TokenVariable} set and use the same value).");
        }

        var http = new HttpClient { BaseAddress = server, Timeout = TimeSpan.FromSeconds(100) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token.Trim());
        http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("runledger-cli", "1.0"));
        var json = parse.GetValue(GlobalOptions.Output) == "json";
        return new Connection(http, new CliSession(http, json, Output, CreateConsole(), Error, Time));
    }

    private IAnsiConsole CreateConsole()
    {
        var interactive = ReferenceEquals(Output, Console.Out) && !Console.IsOutputRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(Output),
            Ansi = interactive ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = interactive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = interactive ? InteractionSupport.Detect : InteractionSupport.No,
        });
        if (!interactive)
        {
            // Piped or captured: no terminal width to fit, so do not wrap ids in the middle.
            console.Profile.Width = 200;
        }

        return console;
    }

    public sealed class Connection(HttpClient http, CliSession session) : IDisposable
    {
        public CliSession Session { get; } = session;

        public void Dispose() => http.Dispose();
    }
}
