using System.Data.Common;

namespace Runledger.Storage;

/// <summary>
/// The columns of the current row of a hot single-row read (<see cref="SqlDialect.QueryRowAsync{T}"/>),
/// by ordinal: a data reader on PostgreSQL, a statement SQLite keeps prepared on its connection.
/// </summary>
public interface IRowReader
{
    bool IsNull(int ordinal);

    string GetString(int ordinal);

    long GetInt64(int ordinal);

    string? GetNullableString(int ordinal) => IsNull(ordinal) ? null : GetString(ordinal);

    long? GetNullableInt64(int ordinal) => IsNull(ordinal) ? null : GetInt64(ordinal);
}

/// <summary>
/// A parameter of a <see cref="SqlDialect.QueryRowAsync{T}"/> read or an <see cref="SqlDialect.ExecuteAsync"/>
/// statement: <c>@name</c> in the SQL, a string, a 64-bit integer or null.
/// </summary>
public readonly record struct RowParameter(string Name, object? Value)
{
    public static RowParameter Of(string name, string? value) => new(name, value);

    public static RowParameter Of(string name, long value) => new(name, value);

    public static RowParameter Of(string name, long? value) => new(name, value);
}

internal sealed class DataReaderRow(DbDataReader reader) : IRowReader
{
    public bool IsNull(int ordinal) => reader.IsDBNull(ordinal);

    public string GetString(int ordinal) => reader.GetString(ordinal);

    public long GetInt64(int ordinal) => reader.GetInt64(ordinal);
}
