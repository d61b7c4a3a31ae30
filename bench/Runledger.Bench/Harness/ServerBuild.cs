using System.Diagnostics;

namespace Runledger.Bench.Harness;

/// <summary>Finds the checkout and builds the server in Release, so every run measures the current code.</summary>
internal static class ServerBuild
{
    private const string SolutionFile = "Runledger.slnx";

    /// <summary>The folder holding <c>Runledger.slnx</c>, searched upwards from the working folder, then from the bench's own binaries.</summary>
    public static string FindRepositoryRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, SolutionFile)))
                {
                    return dir.FullName;
                }
            }
        }

        throw new InvalidOperationException($"No {SolutionFile} above {Directory.GetCurrentDirectory()}; run the bench from the checkout, or pass --server-dll.");
    }

    /// <summary>
    /// Publishes the server as it is deployed: <c>dotnet publish src/Runledger.Server -c Release -r RID
    /// --self-contained false -p:PublishReadyToRun=true</c> (precompiled, so start-up does not wait for
    /// the JIT: ≈ 350 ms of the cold start); returns the path of the published <c>Runledger.Server.dll</c>.
    /// </summary>
    public static async Task<string> BuildAsync(string root, TextWriter log, CancellationToken cancellationToken)
    {
        var project = Path.Combine(root, "src", "Runledger.Server", "Runledger.Server.csproj");
        var rid = System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier;
        var output = Path.Combine(root, "src", "Runledger.Server", "bin", "Release", "net10.0", rid, "publish");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = root,
        };
        // No lingering MSBuild nodes: the bench leaves nothing running behind it.
        foreach (var arg in new[]
        {
            "publish", project, "-c", "Release", "-r", rid, "--self-contained", "false", "-p:PublishReadyToRun=true", "-o", output,
            "--nologo", "-v", "quiet", "-nodeReuse:false", "-clp:ErrorsOnly",
        })
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        var watch = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet could not be started.");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"dotnet publish of {project} failed (exit {process.ExitCode}):\n{await stdout}{await stderr}");
        }

        var dll = Path.Combine(output, "Runledger.Server.dll");
        if (!File.Exists(dll))
        {
            throw new InvalidOperationException($"The publish succeeded but {dll} is missing; pass --server-dll.");
        }

        await log.WriteLineAsync($"published {dll} (ReadyToRun) in {watch.Elapsed.TotalSeconds:0.0} s");
        return dll;
    }
}
