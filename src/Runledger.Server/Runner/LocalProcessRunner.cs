using System.Diagnostics;
using System.Globalization;

namespace Runledger.Server.Runner;

/// <summary>What to start for an execution.</summary>
public sealed record ExecutionLaunch(
    string ExecutionId,
    string ResourceGroup,
    IReadOnlyList<string> Command,
    IReadOnlyDictionary<string, string> Environment,
    string WorkingDirectory,
    Action<string, string> OnOutput);

/// <summary>A started execution process.</summary>
public interface IRunningExecution
{
    /// <summary>Completes with the exit code once the process and its output have ended.</summary>
    Task<int> Exited { get; }

    /// <summary>Asks the process (and its children) to end: SIGTERM.</summary>
    void Terminate();

    /// <summary>Ends the process and its children at once: SIGKILL.</summary>
    void Kill();
}

/// <summary>Starts executions. The local runner uses OS processes; a cluster runner can come later.</summary>
public interface IExecutionRunner
{
    /// <summary>Starts the process, or throws <see cref="ExecutionStartException"/> with the reason.</summary>
    IRunningExecution Start(ExecutionLaunch launch);
}

public sealed class ExecutionStartException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Runs each execution as a local process of this server's machine, capturing stdout and stderr line by line.</summary>
public sealed class LocalProcessRunner : IExecutionRunner
{
    public IRunningExecution Start(ExecutionLaunch launch)
    {
        var start = new ProcessStartInfo(launch.Command[0])
        {
            WorkingDirectory = launch.WorkingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in launch.Command.Skip(1))
        {
            start.ArgumentList.Add(arg);
        }

        // The server's own secrets and settings are not the process's business.
        foreach (var key in start.Environment.Keys.Where(IsServerSetting).ToList())
        {
            start.Environment.Remove(key);
        }

        foreach (var (key, value) in launch.Environment)
        {
            start.Environment[key] = value;
        }

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                launch.OnOutput("stdout", e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                launch.OnOutput("stderr", e.Data);
            }
        };
        try
        {
            if (!process.Start())
            {
                throw new ExecutionStartException($"could not start '{launch.Command[0]}'");
            }
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            process.Dispose();
            throw new ExecutionStartException($"could not start '{launch.Command[0]}' in {launch.WorkingDirectory}: {ex.Message}", ex);
        }

        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new RunningProcess(process);
    }

    private static bool IsServerSetting(string key) =>
        key.StartsWith("RUNLEDGER_", StringComparison.Ordinal)
        || key.StartsWith("Storage__", StringComparison.OrdinalIgnoreCase)
        || key.StartsWith("Auth__", StringComparison.OrdinalIgnoreCase)
        || key.StartsWith("ConnectionStrings__", StringComparison.OrdinalIgnoreCase);

    private sealed class RunningProcess : IRunningExecution
    {
        private readonly Process _process;
        private readonly int _pid;

        public RunningProcess(Process process)
        {
            _process = process;
            _pid = process.Id;
            Exited = WaitAsync();
        }

        public Task<int> Exited { get; }

        public void Terminate()
        {
            // SIGTERM to the whole tree: a shell script's children must hear it too.
            var pids = ProcessTree.WithDescendants(_pid);
            if (pids.Count == 0)
            {
                return;
            }

            using var kill = Process.Start("kill", ["-TERM", .. pids.Select(p => p.ToString(CultureInfo.InvariantCulture))]);
            kill?.WaitForExit();
        }

        public void Kill()
        {
            try
            {
                _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
        }

        private async Task<int> WaitAsync()
        {
            // Waits for exit and for the end of both redirected streams.
            await _process.WaitForExitAsync();
            var code = _process.ExitCode;
            _process.Dispose();
            return code;
        }
    }
}

/// <summary>A process and its descendants, read from /proc.</summary>
internal static class ProcessTree
{
    public static IReadOnlyList<int> WithDescendants(int root)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                // Field 4 of /proc/PID/stat, after the parenthesised command name (which may contain spaces).
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                var parent = int.Parse(fields[1], CultureInfo.InvariantCulture);
                if (!children.TryGetValue(parent, out var list))
                {
                    children[parent] = list = [];
                }

                list.Add(pid);
            }
            catch (IOException)
            {
                // The process ended while we looked.
            }
            catch (UnauthorizedAccessException)
            {
                // Not ours to see.
            }
        }

        if (!Directory.Exists($"/proc/{root}"))
        {
            return [];
        }

        var result = new List<int> { root };
        for (var i = 0; i < result.Count; i++)
        {
            if (children.TryGetValue(result[i], out var list))
            {
                result.AddRange(list);
            }
        }

        return result;
    }

    public static bool IsAlive(int pid) => Directory.Exists($"/proc/{pid}");
}
