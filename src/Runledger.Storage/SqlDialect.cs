using System.Data.Common;

namespace Runledger.Storage;

/// <summary>
/// The few places where SQLite and PostgreSQL SQL differ. Shared stores and the lifecycle engine
/// ask these members instead of testing which provider they run on.
/// </summary>
public abstract class SqlDialect
{
    // Every provider creates its dialect before any store runs a query: a safe place for
    // process-wide Dapper settings. Columns are snake_case, row types PascalCase.
    static SqlDialect() => Dapper.DefaultTypeMap.MatchNamesWithUnderscores = true;

    /// <summary>
    /// Runs a SELECT of at most one row with these <c>@name</c> parameters and maps the row, or
    /// answers null when there is none: for reads on every request (one execution, one dataset).
    /// SQLite keeps the statement prepared on its native connection, since compiling it cost about
    /// as much as running it; here, a plain command.
    /// </summary>
    public virtual async ValueTask<T?> QueryRowAsync<T>(
        DbConnection connection, DbTransaction? transaction, string sql, IReadOnlyList<RowParameter> parameters, Func<IRowReader, T> map, CancellationToken cancellationToken)
        where T : class
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var parameter in parameters)
        {
            command.AddParameter(parameter.Name, parameter.Value ?? DBNull.Value);
        }

        await using var reader = await command.ExecuteReaderAsync(System.Data.CommandBehavior.SingleRow, cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? map(new DataReaderRow(reader)) : null;
    }

    /// <summary>
    /// Runs one statement inside the caller's transaction and answers how many rows it changed, for a
    /// statement run once per item of a list (the marks of a bulk delete). Every <c>@name</c> of the SQL
    /// must be among <paramref name="parameters"/>; those it does not name are left out, so one set of
    /// values serves statements that use different ones. SQLite keeps the statement prepared on its
    /// native connection (compiling an UPDATE cost more than running it); here, a plain command.
    /// </summary>
    public virtual async Task<int> ExecuteAsync(
        DbConnection connection, DbTransaction? transaction, string sql, IReadOnlyList<RowParameter> parameters, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var parameter in parameters)
        {
            if (Names(sql, parameter.Name))
            {
                command.AddParameter(parameter.Name, parameter.Value ?? DBNull.Value);
            }
        }

        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Runs one statement once per item of <paramref name="items"/> (each its own values, named as for
    /// <see cref="ExecuteAsync"/>) inside the caller's transaction, and answers how many rows each run
    /// changed, in order: the marks of a bulk delete. Here: the runs go to the server together, a batch
    /// of at most <see cref="StatementsPerBatch"/> per round trip (PostgreSQL pipelines them), instead of
    /// one round trip per item (a bulk delete of 100 spent most of its time waiting on 100 of them).
    /// SQLite, which has no round trips, steps its prepared statement per item.
    /// </summary>
    public virtual async Task<int[]> ExecuteEachAsync(
        DbConnection connection, DbTransaction? transaction, string sql, IReadOnlyList<IReadOnlyList<RowParameter>> items, CancellationToken cancellationToken)
    {
        var changed = new int[items.Count];

        // Every item names the same parameters: which of them the SQL uses is looked up once per name.
        var named = new Dictionary<string, bool>(StringComparer.Ordinal);
        for (var start = 0; start < items.Count; start += StatementsPerBatch)
        {
            var count = Math.Min(StatementsPerBatch, items.Count - start);
            await using var batch = connection.CreateBatch();
            batch.Transaction = transaction;
            for (var i = start; i < start + count; i++)
            {
                var command = batch.CreateBatchCommand();
                command.CommandText = sql;
                foreach (var parameter in items[i])
                {
                    if (!named.TryGetValue(parameter.Name, out var used))
                    {
                        named[parameter.Name] = used = Names(sql, parameter.Name);
                    }

                    if (used)
                    {
                        command.AddParameter(parameter.Name, parameter.Value ?? DBNull.Value);
                    }
                }

                batch.BatchCommands.Add(command);
            }

            await batch.ExecuteNonQueryAsync(cancellationToken);
            for (var i = 0; i < count; i++)
            {
                changed[start + i] = batch.BatchCommands[i].RecordsAffected;
            }
        }

        return changed;
    }

    /// <summary>Statements sent in one round trip by <see cref="ExecuteEachAsync"/>.</summary>
    public const int StatementsPerBatch = 500;

    /// <summary>Whether <paramref name="sql"/> names the parameter <paramref name="name"/> (<c>@name</c>, not as the start of a longer name).</summary>
    private static bool Names(string sql, string name)
    {
        for (var at = sql.IndexOf(name, StringComparison.Ordinal); at >= 0; at = sql.IndexOf(name, at + 1, StringComparison.Ordinal))
        {
            var end = at + name.Length;
            if (end == sql.Length || !(char.IsLetterOrDigit(sql[end]) || sql[end] == '_'))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Inserts <paramref name="rows"/> into <paramref name="table"/> inside the caller's transaction, each
    /// row's values in the order of <paramref name="columns"/> (a string, 64- or 32-bit integer, double or
    /// null). With <paramref name="returning"/>, an integer column the database assigns (a sequence): the
    /// largest value among the new rows is the result, else 0. For bookkeeping written many rows at a
    /// time (deletion jobs, audit entries). Here: multi-row <c>INSERT … VALUES</c>, one round trip per
    /// chunk. SQLite overrides it with one prepared single-row statement stepped per row, because it
    /// looks every named parameter up by a linear scan of the statement's names (Microsoft.Data.Sqlite
    /// tries three prefixes each): scheduling a bulk delete of 100 spent ≈ 150 of its 167 ms doing so.
    /// </summary>
    public virtual async Task<long> InsertRowsAsync(
        DbConnection connection, DbTransaction transaction, string table, IReadOnlyList<string> columns, IReadOnlyList<object?[]> rows, string? returning, CancellationToken cancellationToken)
    {
        var chunk = Math.Max(1, MaxParametersPerStatement / columns.Count);
        var largest = 0L;
        for (var start = 0; start < rows.Count; start += chunk)
        {
            var count = Math.Min(chunk, rows.Count - start);
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            var sql = new System.Text.StringBuilder($"INSERT INTO {table} ({string.Join(", ", columns)}) VALUES ");
            for (var r = 0; r < count; r++)
            {
                var values = RowValues(rows[start + r], columns.Count);
                sql.Append(r == 0 ? "(" : ", (");
                for (var c = 0; c < values.Length; c++)
                {
                    var name = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"@p{(r * columns.Count) + c}");
                    sql.Append(c == 0 ? "" : ", ").Append(name);
                    command.AddParameter(name, CheckedValue(values[c], table, columns[c]) ?? DBNull.Value);
                }

                sql.Append(')');
            }

            if (returning is not null)
            {
                sql.Append(" RETURNING ").Append(returning);
            }

            command.CommandText = sql.ToString();
            if (returning is null)
            {
                await command.ExecuteNonQueryAsync(cancellationToken);
                continue;
            }

            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                largest = Math.Max(largest, reader.GetInt64(0));
            }
        }

        return largest;
    }

    /// <summary>Parameters per statement of <see cref="InsertRowsAsync"/>'s multi-row VALUES; below every provider's limit (PostgreSQL 65,535).</summary>
    protected virtual int MaxParametersPerStatement => 4_000;

    /// <summary>A row of <see cref="InsertRowsAsync"/> has one value per column.</summary>
    protected static object?[] RowValues(object?[] row, int columns) =>
        row.Length == columns ? row : throw new ArgumentException($"A row has {row.Length} values for {columns} columns.", nameof(row));

    /// <summary>The value types <see cref="InsertRowsAsync"/> binds: a string, 64- or 32-bit integer, double or null.</summary>
    protected static object? CheckedValue(object? value, string table, string column) => value switch
    {
        null or string or long or int or double => value,
        _ => throw new ArgumentException($"{table}.{column}: a {value.GetType().Name} cannot be inserted; use a string, an integer, a double or null.", nameof(value)),
    };

    /// <summary>Appended to a claim query so that several nodes never claim the same row.</summary>
    public abstract string SkipLockedClause { get; }

    /// <summary>
    /// Follows a table name in FROM to make the planner use <paramref name="index"/>, where its own
    /// choice is known to be poor (SQLite <c>INDEXED BY</c>; PostgreSQL plans from statistics: nothing).
    /// </summary>
    public virtual string UseIndex(string index) => "";

    /// <summary>
    /// A statement that deletes at most <c>@Limit</c> rows of <paramref name="table"/> matching
    /// <paramref name="where"/>; its affected-row count is the number removed. Tables without an
    /// implicit row id (SQLite WITHOUT ROWID) name their primary key in <paramref name="keyColumns"/>.
    /// </summary>
    public abstract string BatchDeleteSql(string table, string where, IReadOnlyList<string>? keyColumns = null);

    /// <summary>
    /// Deletes at most <paramref name="limit"/> rows of <paramref name="table"/> matching
    /// <paramref name="where"/> (its parameters in <paramref name="parameters"/>) inside the caller's
    /// transaction; returns how many it removed, fewer than the limit only when none are left.
    /// By default one <see cref="BatchDeleteSql"/> statement. <paramref name="rangeWhere"/>: see
    /// <c>CascadeChild.RangeWhere</c> (a dialect that removes a keyed table one key prefix at a
    /// time may test only it inside a prefix; null: <paramref name="where"/> in full). <paramref name="walk"/>:
    /// the owners to take the prefixes from, kept by the caller across the batches of one child
    /// (see <see cref="KeyPrefixWalk"/>; null: each prefix is looked up with <paramref name="where"/>).
    /// </summary>
    public virtual Task<int> DeleteBatchAsync(
        DbConnection connection, DbTransaction transaction, string table, string where, IReadOnlyList<string>? keyColumns, string? rangeWhere, KeyPrefixWalk? walk, Dapper.DynamicParameters parameters, int limit, CancellationToken cancellationToken)
    {
        parameters.Add("Limit", limit);
        return Dapper.SqlMapper.ExecuteAsync(connection, new Dapper.CommandDefinition(BatchDeleteSql(table, where, keyColumns), parameters, transaction, cancellationToken: cancellationToken));
    }

    /// <summary>The metric-ingest hot path: appends points inside the caller's transaction, set-based.</summary>
    public abstract Task InsertMetricPointsAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<Metrics.MetricPointRow> points, CancellationToken cancellationToken);

    /// <summary>
    /// The record-write hot path (append, update, batch_update, upload, restore): adds rows to
    /// <c>llm_records</c> inside the caller's transaction, set-based — SQLite one prepared single-row
    /// statement re-bound per row, PostgreSQL binary COPY. A duplicate key fails the caller's transaction.
    /// </summary>
    public abstract Task InsertRecordsAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<LlmObs.RecordRow> rows, CancellationToken cancellationToken);

    /// <summary>Appended to a read inside a write transaction so a concurrent change of the row waits (SQLite: its single writer already does).</summary>
    public abstract string ForShareClause { get; }

    /// <summary>A predicate: <paramref name="column"/> is one of the values of the list parameter <paramref name="parameter"/>.</summary>
    public abstract string InListSql(string column, string parameter);

    /// <summary>A predicate: <paramref name="column"/> contains the text of <paramref name="parameter"/>, case-sensitively.</summary>
    public abstract string ContainsSql(string column, string parameter);

    /// <summary>
    /// A predicate: the JSON object in text <paramref name="column"/> contains every top-level key of
    /// the JSON object in text <paramref name="parameter"/> with an equal value (arrays: every element
    /// of the filter's array is in the column's). PostgreSQL uses jsonb <c>@&gt;</c>.
    /// </summary>
    public abstract string JsonContainsSql(string column, string parameter);

    /// <summary>Serialises appends to the hash-chained audit log inside the current transaction.</summary>
    public abstract Task LockAuditChainAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken);

    /// <summary>
    /// As <see cref="LockAuditChainAsync"/>, but never waits: false when another transaction holds the
    /// chain. A transaction that already holds row locks uses this, so it never waits for the chain
    /// while a holder of the chain waits for its rows (the chain is otherwise always taken first).
    /// </summary>
    public virtual async Task<bool> TryLockAuditChainAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken)
    {
        await LockAuditChainAsync(connection, transaction, cancellationToken);
        return true;
    }

    /// <summary>
    /// Orders legal-hold changes against deletes in the current transaction: setting a hold takes it
    /// exclusively, a cascade batch that checked for holds shares it, so a hold committed meanwhile is
    /// seen by the next batch and none removes a held row. Taken before the audit chain and any row lock.
    /// No-op where write transactions already exclude each other (SQLite).
    /// </summary>
    public virtual Task LockHoldsAsync(DbConnection connection, DbTransaction transaction, bool exclusive, CancellationToken cancellationToken) =>
        Task.CompletedTask;

    /// <summary>Held while migrations run so that several nodes can start at once.</summary>
    public abstract Task<IAsyncDisposable> AcquireMigrationLockAsync(DbConnection connection, CancellationToken cancellationToken);
}
