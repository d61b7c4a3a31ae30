using Dapper;

namespace Runledger.Storage.Executions;

/// <summary>Execution status values (<c>AiExecutionStatus</c>).</summary>
public static class ExecutionStatus
{
    public const string Pending = "PENDING";
    public const string Running = "RUNNING";
    public const string Completed = "COMPLETED";
    public const string Dead = "DEAD";
    public const string Stopping = "STOPPING";
    public const string Stopped = "STOPPED";
    public const string Unknown = "UNKNOWN";

    public static readonly IReadOnlyList<string> All = [Pending, Running, Completed, Dead, Stopping, Stopped, Unknown];

    /// <summary>May be stopped (the AI API's rule).</summary>
    public static readonly IReadOnlyList<string> Stoppable = [Pending, Running];

    /// <summary>May be deleted: nothing is running any more.</summary>
    public static readonly IReadOnlyList<string> Deletable = [Completed, Dead, Stopped, Unknown];
}

public sealed class ExecutionRow
{
    public required string Id { get; init; }
    public required string ResourceGroup { get; init; }
    public required string ConfigurationId { get; init; }
    public string? ConfigurationName { get; init; }
    public string? ScenarioId { get; init; }
    public string? ExecutableId { get; init; }
    public required string TargetStatus { get; init; }
    public required string Status { get; init; }
    public string? StatusMessage { get; init; }

    /// <summary>JSON object served as <c>statusDetails</c>.</summary>
    public string? StatusDetails { get; init; }

    public long CreatedAt { get; init; }
    public long ModifiedAt { get; init; }
    public long? SubmissionTime { get; init; }
    public long? StartTime { get; init; }
    public long? CompletionTime { get; init; }

    /// <summary>When a stop was requested and the execution went STOPPING (null if it never did).</summary>
    public long? StopRequestedAt { get; init; }

    public string? DeletingJobId { get; init; }
    public string? RunnerNode { get; init; }
    public long? RunnerLeaseUntil { get; init; }
    public long? ExitCode { get; init; }
}

public sealed record ExecutionQuery(
    string ResourceGroup,
    IReadOnlyList<string>? ExecutableIds = null,
    string? ConfigurationId = null,
    string? ScenarioId = null,
    string? Status = null,
    int Top = 10_000,
    int Skip = 0,
    bool MatchesNothing = false);

/// <summary>What a stop request found: the status it changed to, or the status that refused it.</summary>
public sealed record StopOutcome(bool Accepted, string? Status);

public sealed record LogLine(string ResourceGroup, string ExecutionId, long Seq, long Ts, string Stream, string Msg);

public sealed record LogQuery(string ResourceGroup, string ExecutionId, int Top, long? Start, long? End, bool Descending);

public interface IExecutionStore
{
    Task InsertAsync(ExecutionRow row, CancellationToken cancellationToken);

    /// <summary>Also returns an execution whose deletion is under way (it shows <c>targetStatus: DELETED</c>).</summary>
    Task<ExecutionRow?> GetAsync(string resourceGroup, string id, CancellationToken cancellationToken);

    /// <summary>Executions not being deleted, newest first.</summary>
    Task<IReadOnlyList<ExecutionRow>> ListAsync(ExecutionQuery query, CancellationToken cancellationToken);

    Task<long> CountAsync(ExecutionQuery query, CancellationToken cancellationToken);

    /// <summary>
    /// Atomically asks a PENDING or RUNNING execution to stop: one that no node has picked up is
    /// STOPPED at once, otherwise it becomes STOPPING until its process is gone.
    /// </summary>
    Task<StopOutcome> RequestStopAsync(string resourceGroup, string id, long now, CancellationToken cancellationToken);

    /// <summary>
    /// Assigns up to <paramref name="limit"/> pending executions to <paramref name="nodeId"/>, never more
    /// than <paramref name="maxRunningPerGroup"/> (-1: unlimited) running at once in one resource group.
    /// </summary>
    Task<IReadOnlyList<ExecutionRow>> ClaimPendingAsync(string nodeId, long now, long leaseUntil, int maxRunningPerGroup, int limit, CancellationToken cancellationToken);

    /// <summary>PENDING → RUNNING once the process has started; false when it was stopped meanwhile.</summary>
    Task<bool> MarkRunningAsync(string id, string nodeId, long now, CancellationToken cancellationToken);

    /// <summary>Records how the process ended; only the owning node may.</summary>
    Task MarkFinishedAsync(string id, string nodeId, string status, string message, string details, long? exitCode, long now, CancellationToken cancellationToken);

    Task<IReadOnlyList<string>> ListStoppingAsync(string nodeId, CancellationToken cancellationToken);

    Task RenewLeasesAsync(string nodeId, long leaseUntil, CancellationToken cancellationToken);

    /// <summary>Executions some node has claimed and not finished; the caller decides which of those nodes are gone.</summary>
    Task<IReadOnlyList<ExecutionRow>> ListOrphansAsync(long now, CancellationToken cancellationToken);

    /// <summary>Gives a claimed but never started execution back to the pending pool (its node is gone).</summary>
    Task ReleaseClaimAsync(string id, string nodeId, CancellationToken cancellationToken);

    Task AppendLogsAsync(IReadOnlyList<LogLine> lines, CancellationToken cancellationToken);

    Task<IReadOnlyList<LogLine>> ListLogsAsync(LogQuery query, CancellationToken cancellationToken);
}

public sealed class ExecutionStore(IDatabase database) : IExecutionStore
{
    private const string Columns =
        "id, resource_group, configuration_id, configuration_name, scenario_id, executable_id, target_status, status, status_message, status_details, " +
        "created_at, modified_at, submission_time, start_time, completion_time, stop_requested_at, deleting_job_id, runner_node, runner_lease_until, exit_code";

    public async Task InsertAsync(ExecutionRow row, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            $"""
            INSERT INTO executions ({Columns}) VALUES (@Id, @ResourceGroup, @ConfigurationId, @ConfigurationName, @ScenarioId, @ExecutableId, @TargetStatus,
              @Status, @StatusMessage, @StatusDetails, @CreatedAt, @ModifiedAt, @SubmissionTime, @StartTime, @CompletionTime, @StopRequestedAt, @DeletingJobId, @RunnerNode, @RunnerLeaseUntil, @ExitCode)
            """,
            row, cancellationToken: cancellationToken));
    }

    public async Task<ExecutionRow?> GetAsync(string resourceGroup, string id, CancellationToken cancellationToken)
    {
        // Read on every GET of an execution: a kept statement and a mapping by ordinal, not the mapper.
        await using var connection = await database.OpenAsync(cancellationToken);
        return await database.Dialect.QueryRowAsync(
            connection, null, GetSql, [RowParameter.Of("@resourceGroup", resourceGroup), RowParameter.Of("@id", id)], ReadRow, cancellationToken);
    }

    private const string GetSql = $"SELECT {Columns} FROM executions WHERE resource_group = @resourceGroup AND id = @id";

    /// <summary>One row of <see cref="Columns"/>, in that order.</summary>
    private static ExecutionRow ReadRow(IRowReader row) => new()
    {
        Id = row.GetString(0),
        ResourceGroup = row.GetString(1),
        ConfigurationId = row.GetString(2),
        ConfigurationName = row.GetNullableString(3),
        ScenarioId = row.GetNullableString(4),
        ExecutableId = row.GetNullableString(5),
        TargetStatus = row.GetString(6),
        Status = row.GetString(7),
        StatusMessage = row.GetNullableString(8),
        StatusDetails = row.GetNullableString(9),
        CreatedAt = row.GetInt64(10),
        ModifiedAt = row.GetInt64(11),
        SubmissionTime = row.GetNullableInt64(12),
        StartTime = row.GetNullableInt64(13),
        CompletionTime = row.GetNullableInt64(14),
        StopRequestedAt = row.GetNullableInt64(15),
        DeletingJobId = row.GetNullableString(16),
        RunnerNode = row.GetNullableString(17),
        RunnerLeaseUntil = row.GetNullableInt64(18),
        ExitCode = row.GetNullableInt64(19),
    };

    public async Task<IReadOnlyList<ExecutionRow>> ListAsync(ExecutionQuery query, CancellationToken cancellationToken)
    {
        var (where, args) = Where(query);
        args.Add("Top", query.Top);
        args.Add("Skip", query.Skip);
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<ExecutionRow>(new CommandDefinition(
            $"SELECT {Columns} FROM executions WHERE {where} ORDER BY created_at DESC, id DESC LIMIT @Top OFFSET @Skip",
            args, cancellationToken: cancellationToken));
        return rows.AsList();
    }

    public async Task<long> CountAsync(ExecutionQuery query, CancellationToken cancellationToken)
    {
        var (where, args) = Where(query);
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            $"SELECT COUNT(*) FROM executions WHERE {where}", args, cancellationToken: cancellationToken));
    }

    public async Task<StopOutcome> RequestStopAsync(string resourceGroup, string id, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        var changed = await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE executions
            SET target_status = 'STOPPED',
                status = CASE WHEN status = 'PENDING' AND runner_node IS NULL THEN 'STOPPED' ELSE 'STOPPING' END,
                status_message = CASE WHEN status = 'PENDING' AND runner_node IS NULL THEN 'Stopped before it started' ELSE 'Stop requested' END,
                completion_time = CASE WHEN status = 'PENDING' AND runner_node IS NULL THEN @now ELSE completion_time END,
                stop_requested_at = CASE WHEN status = 'PENDING' AND runner_node IS NULL THEN stop_requested_at ELSE @now END,
                modified_at = @now
            WHERE resource_group = @resourceGroup AND id = @id AND deleting_job_id IS NULL AND status IN ('PENDING', 'RUNNING')
            """,
            new { resourceGroup, id, now }, transaction, cancellationToken: cancellationToken));
        var status = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT status FROM executions WHERE resource_group = @resourceGroup AND id = @id AND deleting_job_id IS NULL",
            new { resourceGroup, id }, transaction, cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
        return new StopOutcome(changed == 1, status);
    }

    public async Task<IReadOnlyList<ExecutionRow>> ClaimPendingAsync(string nodeId, long now, long leaseUntil, int maxRunningPerGroup, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        var candidates = (await connection.QueryAsync<ExecutionRow>(new CommandDefinition(
            $"""
            SELECT {Columns} FROM executions
            WHERE status = 'PENDING' AND runner_node IS NULL AND deleting_job_id IS NULL
            ORDER BY created_at, id
            LIMIT @limit{database.Dialect.SkipLockedClause}
            """,
            new { limit }, transaction, cancellationToken: cancellationToken))).AsList();
        if (candidates.Count == 0)
        {
            return [];
        }

        var running = new Dictionary<string, long>(StringComparer.Ordinal);
        if (maxRunningPerGroup >= 0)
        {
            var groups = candidates.Select(c => c.ResourceGroup).Distinct().ToList();
            foreach (var row in await connection.QueryAsync<(string Group, long Count)>(new CommandDefinition(
                $"""
                SELECT resource_group, COUNT(*) FROM executions
                WHERE {database.Dialect.InListSql("resource_group", "@groups")} AND runner_node IS NOT NULL AND status IN ('PENDING', 'RUNNING', 'STOPPING')
                GROUP BY resource_group
                """,
                new { groups }, transaction, cancellationToken: cancellationToken)))
            {
                running[row.Group] = row.Count;
            }
        }

        var claimed = new List<ExecutionRow>();
        foreach (var candidate in candidates)
        {
            var count = running.GetValueOrDefault(candidate.ResourceGroup);
            if (maxRunningPerGroup >= 0 && count >= maxRunningPerGroup)
            {
                continue;
            }

            running[candidate.ResourceGroup] = count + 1;
            await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE executions SET runner_node = @nodeId, runner_lease_until = @leaseUntil, modified_at = @now WHERE id = @Id AND runner_node IS NULL",
                new { nodeId, leaseUntil, now, candidate.Id }, transaction, cancellationToken: cancellationToken));
            claimed.Add(candidate);
        }

        await transaction.CommitAsync(cancellationToken);
        return claimed;
    }

    public async Task<bool> MarkRunningAsync(string id, string nodeId, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE executions SET status = 'RUNNING', target_status = 'COMPLETED', status_message = 'Running', start_time = @now, modified_at = @now
            WHERE id = @id AND runner_node = @nodeId AND status = 'PENDING'
            """,
            new { id, nodeId, now }, cancellationToken: cancellationToken)) == 1;
    }

    public async Task MarkFinishedAsync(string id, string nodeId, string status, string message, string details, long? exitCode, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE executions
            SET status = @status, status_message = @message, status_details = @details, exit_code = @exitCode,
                completion_time = @now, modified_at = @now, runner_lease_until = NULL
            WHERE id = @id AND runner_node = @nodeId AND status IN ('PENDING', 'RUNNING', 'STOPPING')
            """,
            new { id, nodeId, status, message, details, exitCode, now }, cancellationToken: cancellationToken));
    }

    public async Task<IReadOnlyList<string>> ListStoppingAsync(string nodeId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<string>(new CommandDefinition(
            "SELECT id FROM executions WHERE runner_node = @nodeId AND status = 'STOPPING'",
            new { nodeId }, cancellationToken: cancellationToken))).AsList();
    }

    public async Task RenewLeasesAsync(string nodeId, long leaseUntil, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE executions SET runner_lease_until = @leaseUntil WHERE runner_node = @nodeId AND status IN ('PENDING', 'RUNNING', 'STOPPING')",
            new { nodeId, leaseUntil }, cancellationToken: cancellationToken));
    }

    public async Task<IReadOnlyList<ExecutionRow>> ListOrphansAsync(long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<ExecutionRow>(new CommandDefinition(
            $"SELECT {Columns} FROM executions WHERE runner_node IS NOT NULL AND status IN ('PENDING', 'RUNNING', 'STOPPING')",
            cancellationToken: cancellationToken))).AsList();
    }

    public async Task ReleaseClaimAsync(string id, string nodeId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE executions SET runner_node = NULL, runner_lease_until = NULL WHERE id = @id AND runner_node = @nodeId AND status = 'PENDING'",
            new { id, nodeId }, cancellationToken: cancellationToken));
    }

    public async Task AppendLogsAsync(IReadOnlyList<LogLine> lines, CancellationToken cancellationToken)
    {
        if (lines.Count == 0)
        {
            return;
        }

        using var turn = await database.EnterWriteQueueAsync(cancellationToken);
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await database.BeginWriteAsync(connection, cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO execution_logs (resource_group, execution_id, seq, ts, stream, msg) VALUES (@ResourceGroup, @ExecutionId, @Seq, @Ts, @Stream, @Msg)",
            lines, transaction, cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<LogLine>> ListLogsAsync(LogQuery query, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var order = query.Descending ? "DESC" : "ASC";
        return (await connection.QueryAsync<LogLine>(new CommandDefinition(
            $"""
            SELECT resource_group AS ResourceGroup, execution_id AS ExecutionId, seq AS Seq, ts AS Ts, stream AS Stream, msg AS Msg FROM execution_logs
            WHERE resource_group = @ResourceGroup AND execution_id = @ExecutionId
              AND (@Start IS NULL OR ts >= @Start) AND (@End IS NULL OR ts <= @End)
            ORDER BY seq {order}
            LIMIT @Top
            """,
            query, cancellationToken: cancellationToken))).AsList();
    }

    private (string Where, DynamicParameters Args) Where(ExecutionQuery query)
    {
        var args = new DynamicParameters();
        var where = new List<string> { "resource_group = @ResourceGroup", "deleting_job_id IS NULL" };
        args.Add("ResourceGroup", query.ResourceGroup);
        if (query.MatchesNothing)
        {
            where.Add("1 = 0");
        }

        if (query.ExecutableIds is { Count: > 0 })
        {
            where.Add(database.Dialect.InListSql("executable_id", "@ExecutableIds"));
            args.Add("ExecutableIds", query.ExecutableIds);
        }

        if (query.ConfigurationId is not null)
        {
            where.Add("configuration_id = @ConfigurationId");
            args.Add("ConfigurationId", query.ConfigurationId);
        }

        if (query.ScenarioId is not null)
        {
            where.Add("scenario_id = @ScenarioId");
            args.Add("ScenarioId", query.ScenarioId);
        }

        if (query.Status is not null)
        {
            where.Add("status = @Status");
            args.Add("Status", query.Status);
        }

        return (string.Join(" AND ", where), args);
    }
}
