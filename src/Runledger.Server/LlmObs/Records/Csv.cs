using System.Text;

namespace Runledger.Server.LlmObs.Records;

/// <summary>
/// RFC 4180 CSV, read as a stream (rows come out as they are parsed, so an upload never holds the
/// whole file) and written with quoting only where needed. Fields may be quoted with <c>"</c>, a
/// quote inside is doubled, quoted fields may span lines; lines end with CRLF or LF.
/// </summary>
internal sealed class CsvReader(TextReader reader)
{
    private readonly char[] _buffer = new char[16 * 1024];
    private int _position;
    private int _length;

    /// <summary>1-based line where the last row returned started (for error messages).</summary>
    public long Line { get; private set; }

    private long _nextLine = 1;

    /// <summary>The next row's fields, or null at the end of the input.</summary>
    public async ValueTask<List<string>?> ReadRowAsync(CancellationToken cancellationToken)
    {
        if (!await FillAsync(cancellationToken))
        {
            return null;
        }

        Line = _nextLine;
        var fields = new List<string>();
        var field = new StringBuilder();
        var quoted = false;
        var fieldStarted = false;
        while (true)
        {
            if (!await FillAsync(cancellationToken))
            {
                if (quoted)
                {
                    throw new FormatException($"Line {Line}: a quoted field is not closed before the end of the file.");
                }

                fields.Add(field.ToString());
                return fields;
            }

            var c = _buffer[_position++];
            if (quoted)
            {
                if (c == '"')
                {
                    if (await FillAsync(cancellationToken) && _buffer[_position] == '"')
                    {
                        field.Append('"');
                        _position++;
                    }
                    else
                    {
                        quoted = false;
                    }
                }
                else
                {
                    if (c == '\n')
                    {
                        _nextLine++;
                    }

                    field.Append(c);
                }

                continue;
            }

            switch (c)
            {
                case '"' when !fieldStarted:
                    quoted = true;
                    fieldStarted = true;
                    break;
                case '"':
                    throw new FormatException($"Line {_nextLine}: a quote appears inside an unquoted field; quote the whole field and double the quote.");
                case ',':
                    fields.Add(field.ToString());
                    field.Clear();
                    fieldStarted = false;
                    break;
                case '\r':
                    break;
                case '\n':
                    _nextLine++;
                    fields.Add(field.ToString());
                    return fields;
                default:
                    field.Append(c);
                    fieldStarted = true;
                    break;
            }
        }
    }

    private async ValueTask<bool> FillAsync(CancellationToken cancellationToken)
    {
        if (_position < _length)
        {
            return true;
        }

        _length = await reader.ReadAsync(_buffer.AsMemory(), cancellationToken);
        _position = 0;
        return _length > 0;
    }
}

internal static class CsvWriter
{
    public static void AppendField(StringBuilder line, string? value)
    {
        if (value is null)
        {
            return;
        }

        if (value.AsSpan().IndexOfAny(",\"\r\n") < 0)
        {
            line.Append(value);
            return;
        }

        line.Append('"').Append(value.Replace("\"", "\"\"", StringComparison.Ordinal)).Append('"');
    }
}
