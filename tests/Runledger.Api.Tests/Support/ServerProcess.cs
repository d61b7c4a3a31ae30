using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Runledger.Server;

namespace Runledger.Api.Tests.Support;

/// <summary>
/// The server as a separate OS process (<c>dotnet Runledger.Server.dll</c>), for what only a real
/// process shows: kill -9, SIGTERM, exit codes, what it prints on first start.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private const string ListeningOn = "Now listening on: ";

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Uri? _baseAddress;

    private ServerProcess(Process process)
    {
        _process = process;
    }

    /// <summary>
    /// Where the process listens: the port Kestrel bound (the process is started on port 0, so no
    /// other test can take its port between choosing and binding); known once it has said so.
    /// </summary>
    public Uri BaseAddress => Volatile.Read(ref _baseAddress)
        ?? throw new InvalidOperationException("The server has not said where it listens yet; await WaitReadyAsync first.");

    public int Id => _process.Id;

    public string Output => string.Join('\n', _output);

    /// <summary>Starts the server. <paramref name="settings"/> are configuration keys (Storage:DataDir …), passed as environment variables.</summary>
    public static ServerProcess Start(IDictionary<string, string?> settings, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        start.ArgumentList.Add(typeof(RunledgerApp).Assembly.Location);
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add("http://127.0.0.1:0");
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("RUNLEDGER_", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(key);
        }

        foreach (var (key, value) in settings)
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        var process = new Process { StartInfo = start };
        var server = new ServerProcess(process);
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return server;
    }

    public HttpClient NewClient(string? bearer = TestCredentials.AdminToken)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (bearer is not null)
        {
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
        }

        return client;
    }

    /// <summary>Waits for the process to say where it listens, then for the first 200 from /readyz there; fails with the process output if it exits or takes too long.</summary>
    public async Task<TimeSpan> WaitReadyAsync(int timeoutSeconds = 60)
    {
        var started = Stopwatch.StartNew();
        while (!_listening.Task.IsCompleted && started.Elapsed < TimeSpan.FromSeconds(timeoutSeconds))
        {
            Assert.False(_process.HasExited, $"The server exited with code {(_process.HasExited ? _process.ExitCode : 0)}:\n{Output}");
            await Task.WhenAny(_listening.Task, Task.Delay(20));
        }

        if (!_listening.Task.IsCompleted)
        {
            throw new TimeoutException($"The server did not say where it listens within {timeoutSeconds} s:\n{Output}");
        }

        using var client = NewClient(null);
        client.Timeout = TimeSpan.FromSeconds(2);
        while (started.Elapsed < TimeSpan.FromSeconds(timeoutSeconds))
        {
            Assert.False(_process.HasExited, $"The server exited with code {(_process.HasExited ? _process.ExitCode : 0)}:\n{Output}");
            try
            {
                using var response = await client.GetAsync("/readyz");
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return started.Elapsed;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException)
            {
                // Not answering yet.
            }

            await Task.Delay(20);
        }

        throw new TimeoutException($"The server was not ready within {timeoutSeconds} s:\n{Output}");
    }

    /// <summary>kill -9: no shutdown code runs.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await WaitForExitAsync();
    }

    /// <summary>SIGTERM, as a service manager or container runtime stops it.</summary>
    public void Terminate()
    {
        using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    public async Task<int> WaitForExitAsync(int timeoutSeconds = 30)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        await _process.WaitForExitAsync(timeout.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            _output.Enqueue(line);
            var at = line.IndexOf(ListeningOn, StringComparison.Ordinal);
            if (at >= 0 && Uri.TryCreate(line[(at + ListeningOn.Length)..].Trim(), UriKind.Absolute, out var address)
                && Interlocked.CompareExchange(ref _baseAddress, address, null) is null)
            {
                _listening.SetResult();
            }
        }
    }
}
