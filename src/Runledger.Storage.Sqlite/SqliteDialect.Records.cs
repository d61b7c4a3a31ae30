using System.Data.Common;
using Microsoft.Data.Sqlite;
using Runledger.Storage.LlmObs;
using SQLitePCL;

namespace Runledger.Storage.Sqlite;

internal sealed partial class SqliteDialect
{
    private const string InsertRecordSql =
        "INSERT INTO llm_records (dataset_id, id, version_from, version_to, input, expected_output, metadata, tags, input_hash, created_at, updated_at) " +
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

    /// <summary>
    /// One prepared INSERT bound through SQLitePCL.raw on the connection's own handle (so it is part
    /// of the caller's transaction), as metric points are: per row a few bind calls and one step, with
    /// no per-parameter name look-up (a multi-row VALUES with named parameters costs that per value).
    /// </summary>
    public override Task InsertRecordsAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<RecordRow> rows, CancellationToken cancellationToken)
    {
        if (rows.Count == 0)
        {
            return Task.CompletedTask;
        }

        var db = ((SqliteConnection)connection).Handle!;
        var rc = raw.sqlite3_prepare_v2(db, InsertRecordSql, out var statement);
        SqliteException.ThrowExceptionForRC(rc, db);
        using (statement)
        {
            foreach (var row in rows)
            {
                cancellationToken.ThrowIfCancellationRequested();
                raw.sqlite3_bind_text(statement, 1, row.DatasetId);
                raw.sqlite3_bind_text(statement, 2, row.Id);
                raw.sqlite3_bind_int64(statement, 3, row.VersionFrom);
                BindNullable(statement, 4, row.VersionTo);
                raw.sqlite3_bind_text(statement, 5, row.Input);
                BindNullable(statement, 6, row.ExpectedOutput);
                BindNullable(statement, 7, row.Metadata);
                BindNullable(statement, 8, row.Tags);
                raw.sqlite3_bind_text(statement, 9, row.InputHash);
                raw.sqlite3_bind_int64(statement, 10, row.CreatedAt);
                raw.sqlite3_bind_int64(statement, 11, row.UpdatedAt);
                rc = raw.sqlite3_step(statement);
                if (rc != raw.SQLITE_DONE)
                {
                    // Reset before throwing: the statement is finalised by the using, the transaction stays the caller's.
                    raw.sqlite3_reset(statement);
                    SqliteException.ThrowExceptionForRC(rc, db);
                }

                raw.sqlite3_reset(statement);
            }
        }

        return Task.CompletedTask;
    }

    private static void BindNullable(sqlite3_stmt statement, int index, string? value)
    {
        if (value is null)
        {
            raw.sqlite3_bind_null(statement, index);
        }
        else
        {
            raw.sqlite3_bind_text(statement, index, value);
        }
    }

    private static void BindNullable(sqlite3_stmt statement, int index, long? value)
    {
        if (value is null)
        {
            raw.sqlite3_bind_null(statement, index);
        }
        else
        {
            raw.sqlite3_bind_int64(statement, index, value.Value);
        }
    }
}
