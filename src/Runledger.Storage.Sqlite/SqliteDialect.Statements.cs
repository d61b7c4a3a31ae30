using System.Data.Common;
using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Runledger.Storage.Sqlite;

internal sealed partial class SqliteDialect
{
    /// <summary>
    /// Statements kept prepared per native connection; the pool keeps native connections open and
    /// hands them out again, and an entry goes with its connection when the pool closes it. A native
    /// connection is used by one caller at a time, so its dictionary needs no lock.
    /// </summary>
    private static readonly ConditionalWeakTable<sqlite3, Dictionary<string, sqlite3_stmt>> Prepared = new();

    /// <summary>SQLite advises against many long-lived statements (each holds memory of its connection): past this many, a read prepares and finalises its own.</summary>
    internal const int PreparedPerConnection = 16;

    /// <remarks>The statement runs on the native connection, so inside the caller's transaction when there is one.</remarks>
    public override ValueTask<T?> QueryRowAsync<T>(
        DbConnection connection, DbTransaction? transaction, string sql, IReadOnlyList<RowParameter> parameters, Func<IRowReader, T> map, CancellationToken cancellationToken)
        where T : class
    {
        cancellationToken.ThrowIfCancellationRequested();
        var db = ((SqliteConnection)connection).Handle!;
        var statement = Statement(db, sql, out var kept);
        try
        {
            // A kept statement still holds the last caller's values: every parameter is bound anew.
            var expected = raw.sqlite3_bind_parameter_count(statement);
            if (expected != parameters.Count)
            {
                throw new ArgumentException($"The SQL has {expected} parameters, {parameters.Count} given: {sql}", nameof(parameters));
            }

            foreach (var parameter in parameters)
            {
                var index = raw.sqlite3_bind_parameter_index(statement, parameter.Name);
                if (index == 0)
                {
                    throw new ArgumentException($"The SQL has no parameter {parameter.Name}: {sql}", nameof(parameters));
                }

                Bind(db, statement, index, ValueOf(parameter));
            }

            var step = raw.sqlite3_step(statement);
            if (step == raw.SQLITE_DONE)
            {
                return ValueTask.FromResult<T?>(null);
            }

            if (step != raw.SQLITE_ROW)
            {
                SqliteException.ThrowExceptionForRC(step, db);
            }

            return ValueTask.FromResult<T?>(map(new StatementRow(statement)));
        }
        finally
        {
            Release(statement, kept);
        }
    }

    /// <remarks>The statement is kept prepared on the native connection; each of its parameters is bound by name from <paramref name="parameters"/>.</remarks>
    public override Task<int> ExecuteAsync(
        DbConnection connection, DbTransaction? transaction, string sql, IReadOnlyList<RowParameter> parameters, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var db = ((SqliteConnection)connection).Handle!;
        var statement = Statement(db, sql, out var kept);
        try
        {
            var count = raw.sqlite3_bind_parameter_count(statement);
            for (var index = 1; index <= count; index++)
            {
                var name = raw.sqlite3_bind_parameter_name(statement, index).utf8_to_string();
                var found = false;
                foreach (var parameter in parameters)
                {
                    if (string.Equals(parameter.Name, name, StringComparison.Ordinal))
                    {
                        Bind(db, statement, index, ValueOf(parameter));
                        found = true;
                        break;
                    }
                }

                if (!found)
                {
                    throw new ArgumentException($"The SQL has the parameter {name}, which is not given: {sql}", nameof(parameters));
                }
            }

            int step;
            while ((step = raw.sqlite3_step(statement)) == raw.SQLITE_ROW)
            {
            }

            if (step != raw.SQLITE_DONE)
            {
                SqliteException.ThrowExceptionForRC(step, db);
            }

            return Task.FromResult(raw.sqlite3_changes(db));
        }
        finally
        {
            Release(statement, kept);
        }
    }

    /// <remarks>SQLite has no round trips to save: the kept statement is stepped once per item.</remarks>
    public override async Task<int[]> ExecuteEachAsync(
        DbConnection connection, DbTransaction? transaction, string sql, IReadOnlyList<IReadOnlyList<RowParameter>> items, CancellationToken cancellationToken)
    {
        var changed = new int[items.Count];
        for (var i = 0; i < items.Count; i++)
        {
            changed[i] = await ExecuteAsync(connection, transaction, sql, items[i], cancellationToken);
        }

        return changed;
    }

    /// <remarks>
    /// One single-row INSERT, kept prepared on the native connection, bound by position and stepped
    /// per row (so inside the caller's transaction): per row a few bind calls, no name look-up.
    /// </remarks>
    public override Task<long> InsertRowsAsync(
        DbConnection connection, DbTransaction transaction, string table, IReadOnlyList<string> columns, IReadOnlyList<object?[]> rows, string? returning, CancellationToken cancellationToken)
    {
        if (rows.Count == 0)
        {
            return Task.FromResult(0L);
        }

        var db = ((SqliteConnection)connection).Handle!;
        var placeholders = string.Join(", ", Enumerable.Range(1, columns.Count).Select(i => $"?{i}"));
        var sql = $"INSERT INTO {table} ({string.Join(", ", columns)}) VALUES ({placeholders})" + (returning is null ? "" : $" RETURNING {returning}");
        var statement = Statement(db, sql, out var kept);
        var largest = 0L;
        try
        {
            foreach (var row in rows)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var values = RowValues(row, columns.Count);
                for (var c = 0; c < values.Length; c++)
                {
                    Bind(db, statement, c + 1, CheckedValue(values[c], table, columns[c]));
                }

                // With RETURNING the row is written at the first step and its value read there; the
                // statement is stepped to its end all the same, so every row is complete before the next.
                int step;
                while ((step = raw.sqlite3_step(statement)) == raw.SQLITE_ROW)
                {
                    largest = Math.Max(largest, raw.sqlite3_column_int64(statement, 0));
                }

                if (step != raw.SQLITE_DONE)
                {
                    SqliteException.ThrowExceptionForRC(step, db);
                }

                raw.sqlite3_reset(statement);
            }
        }
        finally
        {
            Release(statement, kept);
        }

        return Task.FromResult(largest);
    }

    /// <summary>The statement kept for <paramref name="sql"/> on this connection, else a new one (kept while there is room).</summary>
    private static sqlite3_stmt Statement(sqlite3 db, string sql, out bool kept)
    {
        var statements = Prepared.GetValue(db, _ => new Dictionary<string, sqlite3_stmt>(StringComparer.Ordinal));
        if (statements.TryGetValue(sql, out var found))
        {
            kept = true;
            return found;
        }

        var rc = raw.sqlite3_prepare_v2(db, sql, out var statement);
        SqliteException.ThrowExceptionForRC(rc, db);
        kept = statements.Count < PreparedPerConnection;
        if (kept)
        {
            statements.Add(sql, statement);
        }

        return statement;
    }

    /// <summary>
    /// Always back to its start: a statement left on a row would hold its read snapshot open (stale
    /// reads, and no checkpoint past it) while it waits in the pool. One not kept is finalised.
    /// </summary>
    private static void Release(sqlite3_stmt statement, bool kept)
    {
        raw.sqlite3_reset(statement);
        if (!kept)
        {
            statement.Dispose();
        }
    }

    /// <summary>A <see cref="RowParameter"/> holds a string, a 64-bit integer or null; anything else is the caller's mistake, named.</summary>
    private static object? ValueOf(RowParameter parameter) => parameter.Value switch
    {
        null or string or long => parameter.Value,
        _ => throw new ArgumentException($"Parameter {parameter.Name} is a {parameter.Value.GetType().Name}; a statement binds strings, 64-bit integers and null.", nameof(parameter)),
    };

    private static void Bind(sqlite3 db, sqlite3_stmt statement, int index, object? value)
    {
        var rc = value switch
        {
            null => raw.sqlite3_bind_null(statement, index),
            string text => raw.sqlite3_bind_text(statement, index, text),
            long number => raw.sqlite3_bind_int64(statement, index, number),
            int number => raw.sqlite3_bind_int64(statement, index, number),
            double number => raw.sqlite3_bind_double(statement, index, number),
            _ => throw new ArgumentException($"A {value.GetType().Name} cannot be bound.", nameof(value)),
        };
        SqliteException.ThrowExceptionForRC(rc, db);
    }

    private sealed class StatementRow(sqlite3_stmt statement) : IRowReader
    {
        public bool IsNull(int ordinal) => raw.sqlite3_column_type(statement, ordinal) == raw.SQLITE_NULL;

        public string GetString(int ordinal) => raw.sqlite3_column_text(statement, ordinal).utf8_to_string();

        public long GetInt64(int ordinal) => raw.sqlite3_column_int64(statement, ordinal);
    }
}
