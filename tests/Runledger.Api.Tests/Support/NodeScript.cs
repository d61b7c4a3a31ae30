using System.ComponentModel;
using System.Diagnostics;

namespace Runledger.Api.Tests.Support;

public sealed record NodeResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit code {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>Runs a Node.js script of the repository's <c>tests/interop</c> folders as a real process.</summary>
public static class NodeScript
{
    /// <summary>The checkout's root: the first folder above the test binaries that holds <c>Runledger.slnx</c>.</summary>
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Runledger.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No Runledger.slnx above {AppContext.BaseDirectory}; run the tests from a checkout.");
    }

    /// <summary>
    /// Runs <c>node script</c> in <paramref name="workingDirectory"/> with extra environment variables;
    /// kills the process tree and fails if it runs longer than <paramref name="timeoutSeconds"/>.
    /// </summary>
    public static async Task<NodeResult> RunAsync(string workingDirectory, string script, IDictionary<string, string> environment, int timeoutSeconds = 120)
    {
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(script);

        // The script only talks to 127.0.0.1: a proxy from the developer's shell must not intercept it,
        // and a bound service from the environment must not replace the key the test passes.
        foreach (var name in new[] { "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "VCAP_SERVICES", "AICORE_SERVICE_KEY" })
        {
            start.Environment.Remove(name);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            throw new InvalidOperationException(
                $"Could not start 'node' ({ex.Message}). The interop tests need Node.js 20 or later on PATH and " +
                "'npm ci --prefix tests/interop/sap-ai-sdk' (./test.sh does both checks and installs).", ex);
        }

        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            using var drain = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await process.WaitForExitAsync(drain.Token);
            throw new TimeoutException($"node {script} did not finish within {timeoutSeconds} s:\n{new NodeResult(-1, await stdout, await stderr)}");
        }

        return new NodeResult(process.ExitCode, await stdout, await stderr);
    }
}
