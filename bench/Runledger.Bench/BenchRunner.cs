using System.Diagnostics;
using System.Security.Cryptography;
using Runledger.Bench.Harness;
using Runledger.Bench.Report;
using Runledger.Bench.Scenarios;

namespace Runledger.Bench;

internal sealed record BenchOptions(string Scenario, string Provider, string? Postgres, string? JsonPath, bool Smoke, string? ServerDll, string[] ServerSettings, string? ServerLogDir);

/// <summary>Builds the server, runs the chosen scenarios one after the other, prints the table. Exit code 1 when a scenario failed.</summary>
internal static class BenchRunner
{
    public static async Task<int> RunAsync(BenchOptions options, CancellationToken cancellationToken)
    {
        var log = Console.Error;
        var startedAt = TimeProvider.System.GetUtcNow();
        IStoreProvider stores = options.Provider == "postgres" ? new PostgresStoreProvider(options.Postgres!) : new SqliteStoreProvider();

        string serverDll;
        string commit;
        try
        {
            var root = options.ServerDll is null ? ServerBuild.FindRepositoryRoot() : null;
            serverDll = options.ServerDll ?? await ServerBuild.BuildAsync(root!, log, cancellationToken);
            commit = await GitCommitAsync(root ?? Path.GetDirectoryName(serverDll)!, cancellationToken);
        }
        catch (InvalidOperationException ex)
        {
            await log.WriteLineAsync(ex.Message);
            return 2;
        }

        // Configuration keys are case-insensitive; a key given twice keeps its last value.
        var extra = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var pair in options.ServerSettings.Select(s => s.Split('=', 2)))
        {
            extra[pair[0]] = pair[1];
        }

        var machine = MachineFacts.Collect(stores.Name, await stores.VersionAsync(cancellationToken), commit, options.Smoke, extra);
        var context = new BenchContext(options.Smoke, stores, serverDll, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)), extra, options.ServerLogDir, log);
        var results = new List<ScenarioResult>();
        foreach (var scenario in ScenarioRegistry.Select(options.Scenario))
        {
            results.Add(await RunScenarioAsync(scenario, context, cancellationToken));
        }

        var report = new BenchReport(machine, startedAt, results);
        await Console.Out.WriteLineAsync(report.RenderText());
        if (options.JsonPath is { } path)
        {
            await report.WriteJsonAsync(path, cancellationToken);
            await log.WriteLineAsync($"wrote {path}");
        }

        return report.ScenariosFailed == 0 ? 0 : 1;
    }

    private static async Task<ScenarioResult> RunScenarioAsync(IScenario scenario, BenchContext context, CancellationToken cancellationToken)
    {
        var result = new ScenarioResult(scenario.Name);
        context.Progress(scenario.Name, scenario.Description);
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        budget.CancelAfter(scenario.Budget);
        var watch = Stopwatch.StartNew();
        var cpu = CpuMeter.Start();
        try
        {
            await scenario.RunAsync(context, result, budget.Token);
        }
        catch (OperationCanceledException) when (budget.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            result.Error = $"did not finish within its budget of {scenario.Budget.TotalMinutes:0} min";
        }
        catch (Exception ex) when (ex is BenchCheckException or HttpRequestException or TimeoutException or InvalidOperationException or IOException or System.Data.Common.DbException or System.Text.Json.JsonException or KeyNotFoundException)
        {
            result.Error = ex.Message.Split('\n')[0];
            await context.Log.WriteLineAsync($"[{scenario.Name}] FAILED: {ex}");
        }

        result.Elapsed = watch.Elapsed;
        if (cpu.OtherCores() is { } others)
        {
            // Not a target: how much the rest of the machine competed with the server and the client.
            result.Add("CPU of other processes meanwhile", others, "cores");
        }

        context.Progress(scenario.Name, result.Error is null ? $"done in {watch.Elapsed.TotalSeconds:0.0} s" : $"failed after {watch.Elapsed.TotalSeconds:0.0} s: {result.Error}");
        return result;
    }

    /// <summary>The commit measured (with "+dirty" when the checkout has changes), or "unknown" outside a git checkout.</summary>
    private static async Task<string> GitCommitAsync(string directory, CancellationToken cancellationToken)
    {
        try
        {
            var head = (await RunGitAsync(directory, ["rev-parse", "--short=12", "HEAD"], cancellationToken)).Trim();
            var status = await RunGitAsync(directory, ["status", "--porcelain", "--untracked-files=no"], cancellationToken);
            return head.Length == 0 ? "unknown" : head + (status.Trim().Length > 0 ? "+dirty" : "");
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "unknown";
        }
    }

    private static async Task<string> RunGitAsync(string directory, string[] args, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo("git") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = directory };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync(cancellationToken);
        await process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        return process.ExitCode == 0 ? output : "";
    }
}
