using System.Data.Common;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Runledger.Server.Auth;
using Runledger.Server.Hosting;
using Runledger.Server.LlmObs.Datasets;
using Runledger.Storage.LlmObs;

namespace Runledger.Server.LlmObs.Records;

/// <summary>
/// ExportLLMObsDataset (<c>GET …/export</c>, <c>text/csv</c>, any version) and
/// UploadLLMObsDatasetRecordsFile (<c>POST /v2/…/records/upload</c>, multipart CSV in, a
/// <c>text/event-stream</c> of <c>progress</c>, <c>completed</c> and <c>error</c> events out).
/// Both use the columns <c>id,input,expected_output,metadata,tags</c>: input and expected output
/// are written as text when they are JSON strings and as JSON otherwise; tags are comma-separated.
/// </summary>
public static class RecordTransfer
{
    private static readonly string[] Columns = ["id", "input", "expected_output", "metadata", "tags"];

    public static RouteGroupBuilder MapRecordExport(this RouteGroupBuilder v1)
    {
        v1.MapGet("/{projectId}/datasets/{datasetId}/export", ExportAsync);
        return v1;
    }

    public static RouteGroupBuilder MapRecordUpload(this RouteGroupBuilder v2)
    {
        v2.MapPost("/{projectId}/datasets/{datasetId}/records/upload", UploadAsync).RequireAuthorization(Policies.LlmObsWrite);
        return v2;
    }

    public static async Task<IResult> ExportAsync(string projectId, string datasetId, HttpContext context, IDatasetStore datasets, IRecordStore records)
    {
        var query = context.Request.Query;
        var format = query["format"].ToString();
        if (format.Length > 0 && format != "csv")
        {
            return JsonApi.InvalidParameter("format", $"format '{format}' is not supported; the only export format is 'csv'.").ToResult();
        }

        var (version, versionError) = RecordEndpoints.VersionParameter(query, "version");
        if (versionError is not null)
        {
            return versionError.ToResult();
        }

        var (dataset, missing) = await DatasetEndpoints.ResolveAsync(context, datasets, projectId, datasetId);
        if (missing is not null)
        {
            return missing.ToResult();
        }

        if (version > dataset!.CurrentVersion)
        {
            return JsonApi.InvalidParameter("version", DatasetEndpoints.VersionRange(version.Value, dataset.CurrentVersion)).ToResult();
        }

        if (await DatasetEndpoints.RemovedVersionErrorAsync(datasets, datasetId, version, dataset.CurrentVersion, "version", context.RequestAborted) is { } removed)
        {
            return removed.ToResult();
        }

        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/csv; charset=utf-8";
        response.Headers.ContentDisposition = $"attachment; filename=\"{dataset.Name.Replace('"', '_')}-v{version ?? dataset.CurrentVersion}.csv\"";
        var line = new StringBuilder(string.Join(',', Columns)).Append("\r\n");
        var pending = 0;
        await foreach (var row in records.StreamAsync(datasetId, version ?? dataset.CurrentVersion, context.RequestAborted))
        {
            CsvWriter.AppendField(line, row.Id);
            line.Append(',');
            CsvWriter.AppendField(line, Cell(row.Input));
            line.Append(',');
            CsvWriter.AppendField(line, Cell(row.ExpectedOutput));
            line.Append(',');
            CsvWriter.AppendField(line, row.Metadata);
            line.Append(',');
            CsvWriter.AppendField(line, string.Join(',', Storage.LlmObs.TagOps.FromJson(row.Tags)));
            line.Append("\r\n");
            if (++pending == 500)
            {
                await response.WriteAsync(line.ToString(), context.RequestAborted);
                line.Clear();
                pending = 0;
            }
        }

        await response.WriteAsync(line.ToString(), context.RequestAborted);
        return Results.Empty;
    }

    /// <summary>
    /// The upload is atomic: the CSV is read and checked in full first (a bad row is an <c>error</c>
    /// event and nothing is written), then every row is applied in ONE transaction with one new
    /// version, <c>Datasets:UploadBatchSize</c> rows at a time with a <c>progress</c> event after each;
    /// nobody sees any of it until <c>completed</c>. A failure while applying rolls all of it back and
    /// is an <c>error</c> event. <c>records_created</c> counts new records, not overwritten ones.
    /// </summary>
    public static async Task<IResult> UploadAsync(
        string projectId, string datasetId, HttpContext context, IDatasetStore datasets, IRecordStore records, IOptions<DatasetOptions> options, TimeProvider time, ILogger<RecordStore> log)
    {
        var query = context.Request.Query;
        var (deduplicate, dedupError) = BoolParameter(query, "deduplicate", false);
        var (overwrite, overwriteError) = BoolParameter(query, "overwrite", true);
        if ((dedupError ?? overwriteError) is { } invalid)
        {
            return invalid.ToResult();
        }

        var uploadTags = query["tags"].Where(t => !string.IsNullOrEmpty(t)).Select(t => t!).ToList();
        var (dataset, missing) = await DatasetEndpoints.ResolveAsync(context, datasets, projectId, datasetId);
        if (missing is not null)
        {
            return missing.ToResult();
        }

        var actor = RecordEndpoints.Actor(context);
        if (dataset!.DraftUserId is not null && dataset.DraftUserId != actor.Actor)
        {
            return DatasetEndpoints.DraftLockedByOther(datasetId, dataset.DraftUserId, dataset.DraftUserName, dataset.DraftSince ?? 0).ToResult();
        }

        var boundary = Boundary(context.Request.ContentType);
        if (boundary is null)
        {
            return (ApiError.BadRequest("InvalidRequest", "Send the CSV as multipart/form-data with one part named 'file'.") with { Header = "Content-Type" }).ToResult();
        }

        // From here on the answer is a 200 event stream; failures become an 'error' event.
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        const string nothing = "Nothing was written.";
        List<RecordInsert> rows;
        try
        {
            var multipart = new MultipartReader(boundary, context.Request.Body);
            MultipartSection? section;
            while ((section = await multipart.ReadNextSectionAsync(context.RequestAborted)) is not null)
            {
                if (ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition) && disposition.Name.Equals("file", StringComparison.Ordinal))
                {
                    break;
                }
            }

            if (section is null)
            {
                await EventAsync(response, "error", Message("The upload has no part named 'file'; send the CSV in a multipart part called 'file'."), context.RequestAborted);
                return Results.Empty;
            }

            using var text = new StreamReader(section.Body, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
            var csv = new CsvReader(text);
            var header = await csv.ReadRowAsync(context.RequestAborted);
            var index = (header ?? []).Select((name, i) => (name: name.Trim().ToLowerInvariant(), i)).GroupBy(c => c.name).ToDictionary(g => g.Key, g => g.First().i);
            if (!index.TryGetValue("input", out var inputColumn))
            {
                await EventAsync(response, "error", Message("The CSV has no 'input' column; its first row must name the columns (input, and optionally id, expected_output, metadata, tags)."), context.RequestAborted);
                return Results.Empty;
            }

            rows = [];
            while (await csv.ReadRowAsync(context.RequestAborted) is { } row)
            {
                if (!row.All(string.IsNullOrEmpty))
                {
                    rows.Add(ReadRow(row, index, inputColumn, uploadTags, csv.Line));
                }
            }
        }
        catch (Exception ex) when (ex is FormatException or InvalidDataException or IOException && !context.RequestAborted.IsCancellationRequested)
        {
            await EventAsync(response, "error", Message($"{ex.Message} {nothing}"), context.RequestAborted);
            return Results.Empty;
        }

        try
        {
            var result = await records.UploadAsync(
                projectId, datasetId, new RecordUpload(rows, deduplicate, overwrite, options.Value.UploadBatchSize), actor, RecordEndpoints.Now(time), RecordEndpoints.NewRecordId,
                (processed, created) => EventAsync(response, "progress", writer =>
                {
                    writer.WriteNumber("records_processed", processed);
                    writer.WriteNumber("records_created", created);
                }, context.RequestAborted),
                context.RequestAborted);
            if (result.Outcome != RecordOutcome.Done)
            {
                await EventAsync(response, "error", Message($"{RecordEndpoints.OutcomeError(result, projectId, datasetId, null).Message} {nothing}"), context.RequestAborted);
                return Results.Empty;
            }

            await EventAsync(response, "completed", writer => writer.WriteNumber("records_created", result.Created), context.RequestAborted);
        }
        catch (DbException ex) when (!context.RequestAborted.IsCancellationRequested)
        {
            // The transaction rolled back: say so in the stream (the status line is long gone).
            log.LogError(ex, "CSV upload into dataset {DatasetId} failed while writing", datasetId);
            await EventAsync(response, "error", Message($"The records could not be stored ({ex.GetType().Name}); the upload was rolled back. {nothing}"), context.RequestAborted);
        }

        return Results.Empty;
    }

    /// <summary>Text that is a JSON object or array is that JSON; any other text is a string.</summary>
    internal static JsonNode? ParseCell(string text)
    {
        var trimmed = text.TrimStart();
        if (trimmed.StartsWith('{') || trimmed.StartsWith('['))
        {
            try
            {
                return JsonNode.Parse(text);
            }
            catch (JsonException)
            {
                // Not JSON after all: kept as text.
            }
        }

        return JsonValue.Create(text);
    }

    private static RecordInsert ReadRow(List<string> row, Dictionary<string, int> index, int inputColumn, List<string> uploadTags, long line)
    {
        string? Field(string name) => index.TryGetValue(name, out var i) && i < row.Count && row[i].Length > 0 ? row[i] : null;

        var inputText = inputColumn < row.Count ? row[inputColumn] : "";
        if (inputText.Length == 0)
        {
            throw new FormatException($"Line {line}: 'input' is empty; every record needs an input.");
        }

        var input = ParseCell(inputText);
        var expected = Field("expected_output") is { } expectedText ? ParseCell(expectedText) : null;
        string? metadata = null;
        if (Field("metadata") is { } metadataText)
        {
            metadata = ParseCell(metadataText) is JsonObject obj
                ? obj.ToJsonString(RecordJson.Stored)
                : throw new FormatException($"Line {line}: 'metadata' must be a JSON object.");
        }

        var tags = new List<string>();
        if (Field("tags") is { } tagText)
        {
            tags.AddRange(ParseCell(tagText) is JsonArray array
                ? array.Select(t => t?.ToString() ?? "")
                : tagText.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
        }

        tags.AddRange(uploadTags);
        return new RecordInsert(Field("id"), input!.ToJsonString(RecordJson.Stored), RecordJson.Hash(input), expected?.ToJsonString(RecordJson.Stored), metadata, new Storage.LlmObs.TagOps(Add: tags));
    }

    private static string? Cell(string? json)
    {
        if (json is null)
        {
            return null;
        }

        var node = JsonNode.Parse(json);
        return node is JsonValue value && value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : json;
    }

    private static string? Boundary(string? contentType)
    {
        if (!MediaTypeHeaderValue.TryParse(contentType, out var media) || !media.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var boundary = HeaderUtilities.RemoveQuotes(media.Boundary).Value;
        return string.IsNullOrWhiteSpace(boundary) ? null : boundary;
    }

    private static (bool Value, ApiError? Error) BoolParameter(IQueryCollection query, string name, bool defaultValue)
    {
        if (!query.TryGetValue(name, out var raw) || string.IsNullOrEmpty(raw))
        {
            return (defaultValue, null);
        }

        return bool.TryParse(raw, out var value)
            ? (value, null)
            : (defaultValue, JsonApi.InvalidParameter(name, $"{name} is '{raw}'; use true or false."));
    }

    private static Action<Utf8JsonWriter> Message(string message) => writer => writer.WriteString("message", message);

    private static async Task EventAsync(HttpResponse response, string name, Action<Utf8JsonWriter> fields, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        await using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            fields(writer);
            writer.WriteEndObject();
        }

        await response.WriteAsync($"event: {name}\ndata: {Encoding.UTF8.GetString(buffer.ToArray())}\n\n", cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
    }
}
