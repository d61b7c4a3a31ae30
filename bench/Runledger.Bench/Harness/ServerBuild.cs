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

    /// <summary><c>dotnet build src/Runledger.Server -c Release</c>; returns the path of <c>Runledger.Server.dll</c>.</summary>
    public static async Task<string> BuildAsync(string root, TextWriter log, CancellationToken cancellationToken)
    {
        var project = Path.Combine(root, "src", "Runledger.Server", "Runledger.Server.csproj");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = root,
        };
        // No lingering MSBuild nodes: the bench leaves nothing running behind it.
        foreach (var arg in new[] { "build", project, "-c", "Release", "--nologo", "-v", "quiet", "-nodeReuse:false", "-clp:ErrorsOnly" })
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
            throw new InvalidOperationException($"dotnet build of {project} failed (exit {process.ExitCode}):\n{await stdout}{await stderr}");
        }

        var dll = Path.Combine(root, "src", "Runledger.Server", "bin", "Release", "net10.0", "Runledger.Server.dll");
        if (!File.Exists(dll))
        {
            throw new InvalidOperationException($"The build succeeded but {dll} is missing; pass --server-dll.");
        }

        await log.WriteLineAsync($"built {dll} in {watch.Elapsed.TotalSeconds:0.0} s");
        return dll;
    }
}
