using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Runledger.Bench.Harness;

/// <summary>
/// The server as its own OS process (<c>dotnet Runledger.Server.dll</c>), as it runs in production:
/// nothing of it is loaded into the load generator, so its memory and start-up are its own.
/// </summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private const int KeptOutputLines = 200;
    private readonly Process _process;
    private readonly string _workDir;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly long _startedAt;
    private readonly StreamWriter? _logFile;
    private readonly Lock _logLock = new();

    private ServerProcess(Process process, string workDir, Uri baseAddress, long startedAt, string? logFile)
    {
        _process = process;
        _workDir = workDir;
        BaseAddress = baseAddress;
        _startedAt = startedAt;
        _logFile = logFile is null ? null : new StreamWriter(logFile, append: false);
    }

    public Uri BaseAddress { get; }

    public int Pid => _process.Id;

    /// <summary>The last lines the server printed, for error messages.</summary>
    public string RecentOutput => string.Join('\n', _output);

    /// <summary>
    /// Starts the server on a free loopback port. <paramref name="settings"/> become <c>--Key=Value</c>
    /// arguments; the working folder is a fresh temp folder with an empty <c>templates/</c>.
    /// With <paramref name="logFile"/>, everything the server prints is also written there.
    /// </summary>
    public static ServerProcess Start(string serverDll, IReadOnlyDictionary<string, string> settings, string adminToken, string? logFile)
    {
        var workDir = Directory.CreateTempSubdirectory("runledger-bench-server-").FullName;
        var templates = Directory.CreateDirectory(Path.Combine(workDir, "templates")).FullName;
        var port = FreePort();
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workDir,
        };
        start.ArgumentList.Add(serverDll);
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add($"http://127.0.0.1:{port}");
        foreach (var (key, value) in settings.Append(new("Runner:TemplatesDir", templates)))
        {
            start.ArgumentList.Add($"--{key}={value}");
        }

        // Only the bench's credentials: a developer's RUNLEDGER_* variables must not leak into the run.
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("RUNLEDGER_", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(key);
        }

        start.Environment["RUNLEDGER_ADMIN_TOKEN"] = adminToken;
        start.Environment["RUNLEDGER_DD_API_KEY"] = LlmObsApi.ApiKey;
        start.Environment["RUNLEDGER_DD_APP_KEY"] = LlmObsApi.AppKey;
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";

        var process = new Process { StartInfo = start };
        // Cold start counts from here: process creation, runtime start-up, migrations, first answer.
        var startedAt = Stopwatch.GetTimestamp();
        process.Start();
        var server = new ServerProcess(process, workDir, new Uri($"http://127.0.0.1:{port}"), startedAt, logFile);
        process.OutputDataReceived += (_, e) => server.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => server.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return server;
    }

    /// <summary>Polls <c>/readyz</c> until it answers 200; returns the time since the process was started.</summary>
    public async Task<TimeSpan> WaitReadyAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var handler = new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(1) };
        using var client = new HttpClient(handler) { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(2) };
        while (Stopwatch.GetElapsedTime(_startedAt) < timeout)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"The server exited with code {_process.ExitCode} before it was ready:\n{RecentOutput}");
            }

            try
            {
                using var response = await client.GetAsync(new Uri("/readyz", UriKind.Relative), cancellationToken);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return Stopwatch.GetElapsedTime(_startedAt);
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Listening, not answering yet.
            }

            // Short enough not to add noticeably to the cold-start figure.
            await Task.Delay(TimeSpan.FromMilliseconds(5), cancellationToken);
        }

        throw new TimeoutException($"The server did not answer 200 on /readyz within {timeout.TotalSeconds:0} s:\n{RecentOutput}");
    }

    /// <summary>The peak resident set size so far (VmHWM in /proc/PID/status), in bytes.</summary>
    public long PeakRssBytes()
    {
        var line = File.ReadLines($"/proc/{_process.Id}/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"/proc/{_process.Id}/status has no VmHWM line.");
        var kb = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        return kb * 1024;
    }

    /// <summary>CPU time the server has used so far (utime + stime in /proc/PID/stat), which unlike wall time hardly depends on what else the machine runs.</summary>
    public TimeSpan CpuTime()
    {
        var stat = File.ReadAllText($"/proc/{_process.Id}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // utime and stime are fields 14 and 15 of the line (11 and 12 after the command name), in USER_HZ = 1/100 s.
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromMilliseconds(ticks * 10);
    }

    /// <summary>SIGTERM, as a service manager stops it; kills it if it has not exited within <paramref name="grace"/>. Returns the exit code, or null if it had to be killed.</summary>
    public async Task<int?> StopAsync(TimeSpan grace)
    {
        if (_process.HasExited)
        {
            return _process.ExitCode;
        }

        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var timeout = new CancellationTokenSource(grace);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
            return _process.ExitCode;
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        if (_logFile is not null)
        {
            lock (_logLock)
            {
                _logFile.Dispose();
            }
        }

        Directory.Delete(_workDir, recursive: true);
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        if (_logFile is not null)
        {
            lock (_logLock)
            {
                _logFile.WriteLine(line);
            }
        }

        _output.Enqueue(line);
        while (_output.Count > KeptOutputLines)
        {
            _output.TryDequeue(out _);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
