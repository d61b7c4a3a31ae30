using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;
using Runledger.Server.Auth;
using Runledger.Server.Hosting;
using Runledger.Storage.Executions;

namespace Runledger.Server.Runner;

/// <summary>Wakes the supervisor when an execution is created or asked to stop.</summary>
public sealed class RunnerSignal : WakeSignal;

/// <summary>
/// Drives executions through their status machine on this node: claims PENDING ones (several
/// nodes share the work; PostgreSQL claims with SKIP LOCKED), starts their processes, passes stop
/// requests on (SIGTERM, then SIGKILL after the grace), records how each ended, and reconciles
/// executions whose node is gone (they become DEAD — or STOPPED if a stop was pending — with the reason).
/// </summary>
public sealed partial class ExecutionSupervisor(
    IExecutionStore executions,
    IConfigurationStore configurations,
    TemplateCatalog templates,
    IExecutionRunner runner,
    ExecutionLogWriter logs,
    JwtIssuer issuer,
    RunnerSignal signal,
    IServer server,
    IHostApplicationLifetime lifetime,
    IOptions<RunnerOptions> options,
    TimeProvider time,
    ILogger<ExecutionSupervisor> logger) : BackgroundService
{
    private static readonly string Machine = Environment.MachineName;
    private readonly ConcurrentDictionary<string, Tracked> _running = new(StringComparer.Ordinal);
    private readonly string _nodeId = $"{Machine}/{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}/{Guid.NewGuid():N}";
    private long _lastRenewal;

    public string NodeId => _nodeId;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Processes are told the server's URL: wait until it listens.
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        using (stoppingToken.Register(() => started.TrySetCanceled(stoppingToken)))
        {
            try
            {
                await started.Task;
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        var poll = TimeSpan.FromSeconds(options.Value.PollSeconds);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RunOnceAsync(stoppingToken);
                await signal.WaitAsync(poll, time, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                LogLoopError(logger, ex);
                await signal.WaitAsync(poll, time, stoppingToken);
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);

        // The server is going away: its processes go with it, and their executions say why.
        foreach (var (id, tracked) in _running)
        {
            tracked.Process.Kill();
            tracked.ShutdownReason = "Runledger shut down while the execution was running";
        }

        await Task.WhenAll(_running.Values.Select(t => t.Finished));
    }

    /// <summary>One pass: reconcile orphans, pass on stop requests, start pending executions, renew leases.</summary>
    public async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        await ReconcileOrphansAsync(cancellationToken);
        await HandleStopRequestsAsync(cancellationToken);
        if (settings.Enabled)
        {
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            var claimed = await executions.ClaimPendingAsync(_nodeId, now, now + (settings.LeaseSeconds * 1000L), settings.MaxRunningCount, 16, cancellationToken);
            foreach (var execution in claimed)
            {
                await StartAsync(execution, cancellationToken);
            }
        }

        var renewAt = time.GetUtcNow().ToUnixTimeMilliseconds();
        if (renewAt - _lastRenewal > settings.LeaseSeconds * 1000L / 3)
        {
            await executions.RenewLeasesAsync(_nodeId, renewAt + (settings.LeaseSeconds * 1000L), cancellationToken);
            _lastRenewal = renewAt;
        }
    }

    private async Task StartAsync(ExecutionRow execution, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        ExecutionLaunch launch;
        try
        {
            launch = await PrepareAsync(execution, cancellationToken);
        }
        catch (ExecutionStartException ex)
        {
            await FinishAsync(execution.Id, ExecutionStatus.Dead, $"Could not start: {ex.Message}", new Dictionary<string, object?> { ["reason"] = "StartFailed", ["message"] = ex.Message }, null, cancellationToken);
            return;
        }

        IRunningExecution process;
        try
        {
            process = runner.Start(launch);
        }
        catch (ExecutionStartException ex)
        {
            LogStartFailed(logger, execution.Id, ex.Message);
            await FinishAsync(execution.Id, ExecutionStatus.Dead, $"Could not start: {ex.Message}", new Dictionary<string, object?> { ["reason"] = "StartFailed", ["message"] = ex.Message }, null, cancellationToken);
            return;
        }

        var tracked = new Tracked(process);
        _running[execution.Id] = tracked;
        if (!await executions.MarkRunningAsync(execution.Id, _nodeId, now, cancellationToken))
        {
            // Stopped between the claim and the start.
            tracked.StopRequested = true;
            process.Terminate();
        }

        LogStarted(logger, execution.Id, execution.ResourceGroup, string.Join(' ', launch.Command));
        tracked.Finished = WatchAsync(execution.Id, tracked);
    }

    private async Task<ExecutionLaunch> PrepareAsync(ExecutionRow execution, CancellationToken cancellationToken)
    {
        var configuration = await configurations.GetAsync(execution.ResourceGroup, execution.ConfigurationId, cancellationToken)
            ?? throw new ExecutionStartException($"configuration '{execution.ConfigurationId}' no longer exists");
        if (!templates.Current.Executables.TryGetValue(configuration.ExecutableId, out var executable))
        {
            throw new ExecutionStartException($"executable '{configuration.ExecutableId}' is no longer in the templates folder");
        }

        var bindings = JsonSerializer.Deserialize(configuration.ParameterBindings, RunnerJson.Default.ListBinding) ?? [];
        var values = executable.Parameters.Where(p => p.Default is not null).ToDictionary(p => p.Name, p => p.Default!, StringComparer.Ordinal);
        foreach (var binding in bindings)
        {
            values[binding.Key] = binding.Value;
        }

        var environment = executable.Environment.ToDictionary(e => e.Key, e => TemplateParser.Substitute(e.Value, values), StringComparer.Ordinal);
        environment["RUNLEDGER_EXECUTION_ID"] = execution.Id;
        environment["RUNLEDGER_RESOURCE_GROUP"] = execution.ResourceGroup;
        environment["RUNLEDGER_URL"] = ServerUrl();
        environment["RUNLEDGER_TOKEN"] = issuer.IssueForExecution(execution.Id, execution.ResourceGroup, TimeSpan.FromSeconds(options.Value.ExecutionTokenLifetimeSeconds));
        var seq = 0L;
        return new ExecutionLaunch(
            execution.Id,
            execution.ResourceGroup,
            executable.Command.Select(c => TemplateParser.Substitute(c, values)).ToList(),
            environment,
            executable.WorkingDirectory,
            (stream, line) => logs.Write(new LogLine(execution.ResourceGroup, execution.Id, Interlocked.Increment(ref seq), time.GetUtcNow().ToUnixTimeMilliseconds(), stream, line)));
    }

    private async Task WatchAsync(string executionId, Tracked tracked)
    {
        var exitCode = await tracked.Process.Exited;
        tracked.KillTimer?.Dispose();
        await logs.FlushAsync();
        var (status, message) = tracked.ShutdownReason is { } shutdown ? (ExecutionStatus.Dead, shutdown)
            : tracked.StopRequested ? (ExecutionStatus.Stopped, $"Stopped on request (exit code {exitCode})")
            : exitCode == 0 ? (ExecutionStatus.Completed, "Completed")
            : (ExecutionStatus.Dead, $"The process exited with code {exitCode}");
        await FinishAsync(executionId, status, message, new Dictionary<string, object?> { ["exitCode"] = exitCode, ["reason"] = status == ExecutionStatus.Dead ? "ProcessFailed" : status }, exitCode, CancellationToken.None);
        _running.TryRemove(executionId, out _);
        LogFinished(logger, executionId, status, exitCode);
    }

    private async Task HandleStopRequestsAsync(CancellationToken cancellationToken)
    {
        foreach (var id in await executions.ListStoppingAsync(_nodeId, cancellationToken))
        {
            if (!_running.TryGetValue(id, out var tracked))
            {
                // Claimed but never started here.
                await FinishAsync(id, ExecutionStatus.Stopped, "Stopped before it started", new Dictionary<string, object?> { ["reason"] = "StoppedBeforeStart" }, null, cancellationToken);
                continue;
            }

            if (tracked.StopRequested)
            {
                continue;
            }

            tracked.StopRequested = true;
            tracked.Process.Terminate();
            tracked.KillTimer = time.CreateTimer(_ => tracked.Process.Kill(), null, TimeSpan.FromSeconds(options.Value.StopGraceSeconds), Timeout.InfiniteTimeSpan);
        }
    }

    private async Task ReconcileOrphansAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var orphan in await executions.ListOrphansAsync(now, cancellationToken))
        {
            var node = orphan.RunnerNode!;
            if (node == _nodeId)
            {
                continue;
            }

            var parts = node.Split('/');
            var sameMachineAndGone = parts.Length == 3 && parts[0] == Machine
                && int.TryParse(parts[1], CultureInfo.InvariantCulture, out var pid) && (pid == Environment.ProcessId || !ProcessTree.IsAlive(pid));
            var leaseExpired = orphan.RunnerLeaseUntil is { } lease && lease < now;
            if (!sameMachineAndGone && !leaseExpired)
            {
                continue;
            }

            if (orphan.Status == ExecutionStatus.Pending)
            {
                // Never started: another node (or this one) may start it.
                await executions.ReleaseClaimAsync(orphan.Id, node, cancellationToken);
                continue;
            }

            var stopping = orphan.Status == ExecutionStatus.Stopping;
            var reason = sameMachineAndGone
                ? "The Runledger server running it stopped or restarted; its process is gone"
                : $"The node running it ({node}) stopped answering; its process is presumed gone";
            await executions.MarkFinishedAsync(
                orphan.Id,
                node,
                stopping ? ExecutionStatus.Stopped : ExecutionStatus.Dead,
                reason,
                JsonSerializer.Serialize(new Dictionary<string, object?> { ["reason"] = "NodeLost", ["node"] = node }, RunnerJson.Default.DictionaryStringObject),
                null,
                now,
                cancellationToken);
            LogReconciled(logger, orphan.Id, node);
        }
    }

    private Task FinishAsync(string id, string status, string message, Dictionary<string, object?> details, long? exitCode, CancellationToken cancellationToken) =>
        executions.MarkFinishedAsync(id, _nodeId, status, message, JsonSerializer.Serialize(details, RunnerJson.Default.DictionaryStringObject), exitCode, time.GetUtcNow().ToUnixTimeMilliseconds(), cancellationToken);

    private string ServerUrl()
    {
        if (options.Value.ServerUrl is { Length: > 0 } configured)
        {
            return configured.TrimEnd('/');
        }

        var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? RunledgerApp.DefaultUrl;
        return address.Replace("://0.0.0.0", "://127.0.0.1", StringComparison.Ordinal)
            .Replace("://[::]", "://127.0.0.1", StringComparison.Ordinal)
            .Replace("://+", "://127.0.0.1", StringComparison.Ordinal)
            .Replace("://*", "://127.0.0.1", StringComparison.Ordinal)
            .TrimEnd('/');
    }

    private sealed class Tracked(IRunningExecution process)
    {
        public IRunningExecution Process { get; } = process;
        public volatile bool StopRequested;
        public ITimer? KillTimer { get; set; }
        public string? ShutdownReason { get; set; }
        public Task Finished { get; set; } = Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Execution {ExecutionId} ({ResourceGroup}) started: {Command}")]
    private static partial void LogStarted(ILogger logger, string executionId, string resourceGroup, string command);

    [LoggerMessage(Level = LogLevel.Information, Message = "Execution {ExecutionId} ended {Status} (exit code {ExitCode})")]
    private static partial void LogFinished(ILogger logger, string executionId, string status, int exitCode);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Execution {ExecutionId} could not start: {Reason}")]
    private static partial void LogStartFailed(ILogger logger, string executionId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Execution {ExecutionId} was reconciled: its node {Node} is gone")]
    private static partial void LogReconciled(ILogger logger, string executionId, string node);

    [LoggerMessage(Level = LogLevel.Error, Message = "Execution supervisor loop error; retrying after the poll interval")]
    private static partial void LogLoopError(ILogger logger, Exception exception);
}

public sealed record Binding(string Key, string Value);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(List<Binding>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, object?>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(int))]
[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class RunnerJson : System.Text.Json.Serialization.JsonSerializerContext;
