using System.Data.Common;
using Npgsql;
using NpgsqlTypes;
using Runledger.Storage.LlmObs;

namespace Runledger.Storage.Postgres;

internal sealed partial class PostgresDialect
{
    /// <summary>Binary COPY, as metric points are: one round trip for the whole batch, inside the caller's transaction.</summary>
    public override async Task InsertRecordsAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<RecordRow> rows, CancellationToken cancellationToken)
    {
        if (rows.Count == 0)
        {
            return;
        }

        await using var importer = await ((NpgsqlConnection)connection).BeginBinaryImportAsync(
            "COPY llm_records (dataset_id, id, version_from, version_to, input, expected_output, metadata, tags, input_hash, created_at, updated_at) FROM STDIN (FORMAT BINARY)",
            cancellationToken);
        foreach (var row in rows)
        {
            await importer.StartRowAsync(cancellationToken);
            await importer.WriteAsync(row.DatasetId, NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(row.Id, NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(row.VersionFrom, NpgsqlDbType.Bigint, cancellationToken);
            await WriteNullableAsync(importer, row.VersionTo, cancellationToken);
            await importer.WriteAsync(row.Input, NpgsqlDbType.Text, cancellationToken);
            await WriteNullableAsync(importer, row.ExpectedOutput, cancellationToken);
            await WriteNullableAsync(importer, row.Metadata, cancellationToken);
            await WriteNullableAsync(importer, row.Tags, cancellationToken);
            await importer.WriteAsync(row.InputHash, NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(row.CreatedAt, NpgsqlDbType.Bigint, cancellationToken);
            await importer.WriteAsync(row.UpdatedAt, NpgsqlDbType.Bigint, cancellationToken);
        }

        await importer.CompleteAsync(cancellationToken);
    }

    private static async Task WriteNullableAsync(NpgsqlBinaryImporter importer, string? value, CancellationToken cancellationToken)
    {
        if (value is null)
        {
            await importer.WriteNullAsync(cancellationToken);
        }
        else
        {
            await importer.WriteAsync(value, NpgsqlDbType.Text, cancellationToken);
        }
    }

    private static async Task WriteNullableAsync(NpgsqlBinaryImporter importer, long? value, CancellationToken cancellationToken)
    {
        if (value is null)
        {
            await importer.WriteNullAsync(cancellationToken);
        }
        else
        {
            await importer.WriteAsync(value.Value, NpgsqlDbType.Bigint, cancellationToken);
        }
    }
}
