using System.Text.Json;
using Dapper;
using Microsoft.Extensions.Options;
using Runledger.Storage;
using Runledger.Storage.Audit;
using Runledger.Storage.Lifecycle;

namespace Runledger.Server.Lifecycle;

/// <summary>Retention evaluation. Keys under <c>Retention:</c>.</summary>
public sealed class RetentionOptions
{
    public const string Section = "Retention";

    /// <summary>Whether this node evaluates policies on a schedule (the on-demand endpoint works either way).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Time between scheduled evaluations.</summary>
    public double IntervalSeconds { get; set; } = 3600;

    /// <summary>Targets one policy of one scope may schedule per run; the rest follow on the next run.</summary>
    public int MaxTargetsPerRun { get; set; } = 1000;
}

internal sealed class RetentionOptionsValidator : IValidateOptions<RetentionOptions>
{
    public ValidateOptionsResult Validate(string? name, RetentionOptions options)
    {
        var failures = new List<string>();
        if (options.IntervalSeconds < 1)
        {
            failures.Add($"Retention:IntervalSeconds is {options.IntervalSeconds}; it must be at least 1.");
        }

        if (options.MaxTargetsPerRun is < 1 or > 100_000)
        {
            failures.Add($"Retention:MaxTargetsPerRun is {options.MaxTargetsPerRun}; use 1 to 100000.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

public sealed record RetentionTarget(string Id, string Scope);

/// <summary>What one policy of one scope removes (dry run) or scheduled (real run).</summary>
public sealed record RetentionOutcome(
    RetentionPolicyRow Policy,
    string Kind,
    long Cutoff,
    IReadOnlyList<RetentionTarget> Targets,
    IReadOnlyList<string> Jobs,
    IReadOnlyList<string> Refused);

public sealed record RetentionRun(bool DryRun, long At, IReadOnlyList<RetentionOutcome> Outcomes)
{
    /// <summary>Named by the <c>retention.run</c> audit entry and by each <c>deletion.requested</c> entry it caused.</summary>
    public string RunId { get; init; } = "";
}

/// <summary>
/// Evaluates every stored policy: finds what is older than its days and schedules each target as an
/// ordinary deletion job (holds, grace and audit apply as to any delete), then writes one
/// <c>retention.run</c> audit entry. Each job's own <c>deletion.requested</c> entry, written with the
/// job, names the run and the policy, so a crash before the run's entry leaves no unaudited job.
/// Targets that already have an open job of the policy's kind are left to it; held targets are not
/// scheduled (so no refusal is written on every run) and are reported in the run. A dry run only lists.
/// </summary>
public sealed class RetentionRunner(
    IDatabase database,
    CascadeRegistry registry,
    IRetentionPolicyStore policies,
    DeletionScheduler scheduler,
    IDeletionJobStore jobs,
    HoldChecker holds,
    IAuditStore audit,
    IOptions<RetentionOptions> options,
    TimeProvider time)
{
    public const string Actor = "retention";

    public async Task<RetentionRun> RunAsync(bool dryRun, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var runId = Guid.CreateVersion7().ToString();
        var outcomes = new List<RetentionOutcome>();
        var heldBy = new List<string>();
        foreach (var policy in await policies.ListAsync(null, null, cancellationToken))
        {
            if (registry.RetentionPolicy(policy.ScopeKind, policy.Policy) is not { } kind)
            {
                continue; // stored by a build that registered it; nothing here knows how to apply it
            }

            var cutoff = now - (policy.Days * 86_400_000L);
            List<RetentionTarget> targets;
            var refused = new List<string>();
            var due = new List<RetentionTarget>();
            await using (var connection = await database.OpenAsync(cancellationToken))
            {
                targets = (await connection.QueryAsync<RetentionTarget>(new CommandDefinition(
                    kind.CandidatesSql,
                    new { ScopeId = policy.ScopeId, Cutoff = cutoff, Limit = options.Value.MaxTargetsPerRun },
                    cancellationToken: cancellationToken))).AsList();
                var open = await jobs.OpenTargetsAsync(connection, null, kind.Kind, targets.Select(t => t.Id).ToList(), cancellationToken);
                targets = targets.Where(t => !open.Contains(t.Id)).ToList();
                foreach (var scope in targets.GroupBy(t => t.Scope, StringComparer.Ordinal))
                {
                    var inScope = scope.ToList();
                    var found = await holds.FindManyAsync(connection, null, kind.Kind, inScope.Select(t => t.Id).ToList(), scope.Key, cancellationToken);
                    for (var i = 0; i < inScope.Count; i++)
                    {
                        if (found[i] is { } hold)
                        {
                            refused.Add(hold.Detail(kind.Kind, inScope[i].Id));
                            heldBy.Add($"{hold.Kind} '{hold.Id}'");
                        }
                        else
                        {
                            due.Add(inScope[i]);
                        }
                    }
                }
            }

            var scheduledJobs = new List<string>();
            if (!dryRun)
            {
                var note = $"retention run {runId}: {policy.ScopeKind} {policy.ScopeId} {policy.Policy} older than {policy.Days} days";
                foreach (var scope in due.GroupBy(t => t.Scope, StringComparer.Ordinal))
                {
                    var ids = scope.Select(t => t.Id).ToList();
                    var results = await scheduler.ScheduleManyAsync(
                        kind.Kind, ids, scope.Key, Actor, new ScheduleOptions(Cutoff: kind.ByAge ? cutoff : null, Note: note), cancellationToken);
                    for (var i = 0; i < ids.Count; i++)
                    {
                        if (results[i] is ScheduleResult.Scheduled scheduled)
                        {
                            scheduledJobs.Add(scheduled.JobId);
                        }
                        else if (results[i] is ScheduleResult.Held held)
                        {
                            // Held between the look-up above and the schedule: refused (and audited) there.
                            refused.Add(held.Detail(kind.Kind, ids[i]));
                        }
                    }
                }
            }

            outcomes.Add(new RetentionOutcome(policy, kind.Kind, cutoff, targets, scheduledJobs, refused));
        }

        if (!dryRun)
        {
            await AuditRunAsync(runId, outcomes, heldBy, now, cancellationToken);
        }

        return new RetentionRun(dryRun, now, outcomes) { RunId = runId };
    }

    private async Task AuditRunAsync(string runId, List<RetentionOutcome> outcomes, List<string> heldBy, long now, CancellationToken cancellationToken)
    {
        var counts = new Dictionary<string, long>
        {
            ["policies"] = outcomes.Count,
            ["scheduled"] = outcomes.Sum(o => o.Jobs.Count),
            ["refused"] = outcomes.Sum(o => o.Refused.Count),
        };
        var detail = string.Join("; ", outcomes.Where(o => o.Targets.Count > 0).Select(o => $"{o.Policy.ScopeKind} {o.Policy.ScopeId} {o.Policy.Policy}: {o.Jobs.Count} scheduled, {o.Refused.Count} refused"));
        if (heldBy.Count > 0)
        {
            detail += $"; under legal hold: {string.Join(", ", heldBy.Distinct(StringComparer.Ordinal))}";
        }

        using var turn = await database.EnterWriteQueueAsync(cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        await audit.AppendAsync(connection, transaction, new AuditRow
        {
            Id = Guid.CreateVersion7().ToString(),
            At = now,
            Actor = Actor,
            Action = "retention.run",
            TargetKind = "retention",
            TargetId = runId,
            Scope = "*",
            Counts = JsonSerializer.Serialize(counts, LifecycleJson.Default.DictionaryStringInt64),
            Detail = detail,
        }, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }
}

/// <summary>Runs retention every <c>Retention:IntervalSeconds</c>; <c>POST /runledger/v1/retention/run</c> runs it now.</summary>
public sealed partial class RetentionService(RetentionRunner runner, IOptions<RetentionOptions> options, TimeProvider time, ILogger<RetentionService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.Enabled)
        {
            return;
        }

        var interval = TimeSpan.FromSeconds(options.Value.IntervalSeconds);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, time, stoppingToken);
                var run = await runner.RunAsync(dryRun: false, stoppingToken);
                LogRun(logger, run.Outcomes.Count, run.Outcomes.Sum(o => o.Jobs.Count));
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                // The store may be briefly unreachable; the next interval tries again.
                LogLoopError(logger, ex);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Retention run: {Policies} policies, {Jobs} deletion jobs scheduled")]
    private static partial void LogRun(ILogger logger, int policies, int jobs);

    [LoggerMessage(Level = LogLevel.Error, Message = "Retention loop error; retrying after the interval")]
    private static partial void LogLoopError(ILogger logger, Exception exception);
}
