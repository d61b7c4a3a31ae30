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
        var statements = Prepared.GetValue(db, _ => new Dictionary<string, sqlite3_stmt>(StringComparer.Ordinal));
        var kept = statements.TryGetValue(sql, out var found);
        var statement = found!;
        if (!kept)
        {
            var rc = raw.sqlite3_prepare_v2(db, sql, out statement);
            SqliteException.ThrowExceptionForRC(rc, db);
            kept = statements.Count < PreparedPerConnection;
            if (kept)
            {
                statements.Add(sql, statement);
            }
        }

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

                var rc = parameter.Value switch
                {
                    string text => raw.sqlite3_bind_text(statement, index, text),
                    long number => raw.sqlite3_bind_int64(statement, index, number),
                    _ => throw new ArgumentException($"Parameter {parameter.Name} is a {parameter.Value.GetType().Name}; a row read binds strings and 64-bit integers.", nameof(parameters)),
                };
                SqliteException.ThrowExceptionForRC(rc, db);
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
            // Always back to its start: a statement left on a row would hold its read snapshot open
            // (stale reads, and no checkpoint past it) while it waits in the pool.
            raw.sqlite3_reset(statement);
            if (!kept)
            {
                statement.Dispose();
            }
        }
    }

    private sealed class StatementRow(sqlite3_stmt statement) : IRowReader
    {
        public bool IsNull(int ordinal) => raw.sqlite3_column_type(statement, ordinal) == raw.SQLITE_NULL;

        public string GetString(int ordinal) => raw.sqlite3_column_text(statement, ordinal).utf8_to_string();

        public long GetInt64(int ordinal) => raw.sqlite3_column_int64(statement, ordinal);
    }
}
