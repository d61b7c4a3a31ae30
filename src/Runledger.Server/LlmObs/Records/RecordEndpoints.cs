using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Runledger.Server.Auth;
using Runledger.Server.Hosting;
using Runledger.Server.Lifecycle;
using Runledger.Server.LlmObs.Datasets;
using Runledger.Server.LlmObs.Projects;
using Runledger.Storage.LlmObs;

namespace Runledger.Server.LlmObs.Records;

/// <summary>
/// <c>…/{project_id}/datasets/{dataset_id}/records…</c>: ListLLMObsDatasetRecords,
/// CreateLLMObsDatasetRecords, UpdateLLMObsDatasetRecords, DeleteLLMObsDatasetRecords and
/// BatchUpdateLLMObsDataset. Every change is one transaction; a bad item rejects the whole request.
/// While another user holds the dataset's draft lock every write is a 403. Deletes (records/delete and
/// batch_update's delete_records) go through the lifecycle: a legal hold on the dataset or its project
/// refuses them (403), and each is a deletion job (finished at once: the rows are only closed) whose
/// id is the <c>Runledger-Deletion-Job</c> header, with its <c>deletion.requested</c> audit entry.
/// </summary>
public static class RecordEndpoints
{
    public const string Type = "records";

    public static RouteGroupBuilder MapRecords(this RouteGroupBuilder v1)
    {
        v1.MapGet("/{projectId}/datasets/{datasetId}/records", ListAsync);
        v1.MapPost("/{projectId}/datasets/{datasetId}/records", AppendAsync).RequireAuthorization(Policies.LlmObsWrite);
        v1.MapPatch("/{projectId}/datasets/{datasetId}/records", UpdateAsync).RequireAuthorization(Policies.LlmObsWrite);
        v1.MapPost("/{projectId}/datasets/{datasetId}/records/delete", DeleteAsync).RequireAuthorization(Policies.LlmObsWrite);
        v1.MapPost("/{projectId}/datasets/{datasetId}/batch_update", BatchUpdateAsync).RequireAuthorization(Policies.LlmObsWrite);
        return v1;
    }

    public static async Task<IResult> ListAsync(string projectId, string datasetId, HttpContext context, IDatasetStore datasets, IRecordStore records, RecordListCache cache)
    {
        var query = context.Request.Query;
        var (limit, limitError) = JsonApi.PageLimit(query);
        var (cursor, cursorError) = JsonApi.Cursor(query);
        var (version, versionError) = VersionParameter(query, "filter[version]");
        if ((limitError ?? cursorError ?? versionError) is { } error)
        {
            return error.ToResult();
        }

        var (dataset, missing) = await DatasetEndpoints.ResolveAsync(context, datasets, projectId, datasetId);
        if (missing is not null)
        {
            return missing.ToResult();
        }

        if (version > dataset!.CurrentVersion)
        {
            return JsonApi.InvalidParameter("filter[version]", DatasetEndpoints.VersionRange(version.Value, dataset.CurrentVersion)).ToResult();
        }

        if (await DatasetEndpoints.RemovedVersionErrorAsync(datasets, datasetId, version, dataset.CurrentVersion, "filter[version]", context.RequestAborted) is { } removed)
        {
            return removed.ToResult();
        }

        var effective = version == dataset.CurrentVersion ? null : version;
        var key = RecordListCache.Key.For(dataset, effective, cursor, limit);
        if (cache.Get(key) is { } kept)
        {
            return RecordJson.Body(kept);
        }

        var rows = await records.ListAsync(datasetId, effective, cursor, limit + 1, context.RequestAborted);
        var page = rows.Count > limit ? rows.Take(limit).ToList() : rows;
        var after = rows.Count > limit ? JsonApi.EncodeCursor(page[^1].CreatedAt, page[^1].Id) : null;
        var body = RecordJson.List(page, after);
        cache.Set(key, body);
        return RecordJson.Body(body);
    }

    public static async Task<IResult> AppendAsync(
        string projectId, string datasetId, HttpContext context, IRecordStore records, IOptions<DatasetOptions> options, TimeProvider time)
    {
        var (attributes, _, error) = await JsonApi.ReadDataElementAsync(context, Type);
        if (error is not null)
        {
            return error.ToResult();
        }

        var (items, itemsError) = ItemArray(attributes, "records", "/data/attributes", required: true, options.Value.MaxBatchItems, tooLargeStatus: StatusCodes.Status400BadRequest);
        var (deduplicate, dedupError) = Flag(attributes, "deduplicate", defaultValue: true);
        if ((itemsError ?? dedupError) is { } invalid)
        {
            return invalid.ToResult();
        }

        var inserts = new List<RecordInsert>(items.Count);
        for (var i = 0; i < items.Count; i++)
        {
            var (insert, insertError) = ReadInsert(items[i], "/data/attributes/records", i, allowIdAndTags: false);
            if (insertError is not null)
            {
                return insertError.ToResult();
            }

            inserts.Add(insert!);
        }

        var result = await records.ApplyAsync(projectId, datasetId, new RecordBatch(inserts, [], [], Deduplicate: deduplicate), Actor(context), Now(time), NewRecordId, null, context.RequestAborted);
        return result.Outcome == RecordOutcome.Done
            ? RecordJson.Mutation(result.Records!.Count > 0 ? StatusCodes.Status201Created : StatusCodes.Status200OK, result.Records)
            : OutcomeError(result, projectId, datasetId, "/data/attributes/records").ToResult();
    }

    public static async Task<IResult> UpdateAsync(
        string projectId, string datasetId, HttpContext context, IRecordStore records, IOptions<DatasetOptions> options, TimeProvider time)
    {
        var (attributes, _, error) = await JsonApi.ReadDataElementAsync(context, Type);
        if (error is not null)
        {
            return error.ToResult();
        }

        var (items, itemsError) = ItemArray(attributes, "records", "/data/attributes", required: true, options.Value.MaxBatchItems, tooLargeStatus: StatusCodes.Status400BadRequest);
        if (itemsError is not null)
        {
            return itemsError.ToResult();
        }

        var updates = new List<RecordPatch>(items.Count);
        for (var i = 0; i < items.Count; i++)
        {
            var (patch, patchError) = ReadPatch(items[i], "/data/attributes/records", i, allowTags: false);
            if (patchError is not null)
            {
                return patchError.ToResult();
            }

            updates.Add(patch!);
        }

        if (DuplicateId(updates.Select(u => u.Id).ToList(), "/data/attributes/records", "/id") is { } duplicate)
        {
            return duplicate.ToResult();
        }

        var result = await records.ApplyAsync(projectId, datasetId, new RecordBatch([], updates, []), Actor(context), Now(time), NewRecordId, null, context.RequestAborted);
        return result.Outcome == RecordOutcome.Done
            ? RecordJson.Mutation(StatusCodes.Status200OK, result.Records!)
            : OutcomeError(result, projectId, datasetId, "/data/attributes/records").ToResult();
    }

    public static async Task<Results<NoContent, ErrorResult>> DeleteAsync(
        string projectId, string datasetId, HttpContext context, IRecordStore records, HoldChecker holds, IOptions<DatasetOptions> options, TimeProvider time)
    {
        var (attributes, _, error) = await JsonApi.ReadDataAsync(context, Type);
        if (error is not null)
        {
            return error.ToResult();
        }

        var (ids, idsError) = IdList.Read(attributes!, "record_ids", options.Value.MaxDeleteIds);
        // The list is a set (IdList drops repeats), as for the other delete endpoints.
        if (idsError is not null)
        {
            return idsError.ToResult();
        }

        var actor = Actor(context);
        var result = await records.DeleteAsync(projectId, datasetId, ids, actor, Now(time), Guid.NewGuid().ToString(), HoldCheck(holds, actor.OrgId, projectId, datasetId), context.RequestAborted);
        if (result.Outcome != RecordOutcome.Done)
        {
            return OutcomeError(result, projectId, datasetId, "/data/attributes/record_ids").ToResult();
        }

        SetJobHeader(context, result);
        return TypedResults.NoContent();
    }

    public static async Task<IResult> BatchUpdateAsync(
        string projectId, string datasetId, HttpContext context, IRecordStore records, HoldChecker holds, IOptions<DatasetOptions> options, TimeProvider time)
    {
        var (attributes, data, error) = await JsonApi.ReadDataElementAsync(context, DatasetEndpoints.Type);
        if (error is not null)
        {
            return error.ToResult();
        }

        if (DatasetEndpoints.DataId(data!, datasetId) is { } idError)
        {
            return idError.ToResult();
        }

        const string at = "/data/attributes";
        var max = options.Value.MaxBatchItems;
        var (insertItems, insertError) = ItemArray(attributes, "insert_records", at, required: false, max, StatusCodes.Status413PayloadTooLarge);
        var (updateItems, updateError) = ItemArray(attributes, "update_records", at, required: false, max, StatusCodes.Status413PayloadTooLarge);
        var (deleteIds, deleteError) = StringArray(attributes, "delete_records", at);
        var (tags, tagsError) = StringArray(attributes, "tags", at);
        var (newVersion, versionError) = Flag(attributes, "create_new_version", defaultValue: true);
        if ((insertError ?? updateError ?? deleteError ?? tagsError ?? versionError) is { } invalid)
        {
            return invalid.ToResult();
        }

        var total = insertItems.Count + updateItems.Count + (deleteIds?.Count ?? 0);
        if (total > max)
        {
            return new ApiError(StatusCodes.Status413PayloadTooLarge, "TooManyItems",
                $"The batch has {total} record items (insert_records + update_records + delete_records); the limit is {max} per request (Datasets:MaxBatchItems). Send smaller batches.")
            { SourcePointer = at }
                .ToResult();
        }

        var inserts = new List<RecordInsert>(insertItems.Count);
        for (var i = 0; i < insertItems.Count; i++)
        {
            var (insert, itemError) = ReadInsert(insertItems[i], $"{at}/insert_records", i, allowIdAndTags: true);
            if (itemError is not null)
            {
                return itemError.ToResult();
            }

            // Batch-level tags are added to every inserted record.
            inserts.Add(tags is { Count: > 0 } ? insert! with { Tags = Merge(insert!.Tags, tags) } : insert!);
        }

        var updates = new List<RecordPatch>(updateItems.Count);
        for (var i = 0; i < updateItems.Count; i++)
        {
            var (patch, itemError) = ReadPatch(updateItems[i], $"{at}/update_records", i, allowTags: true);
            if (itemError is not null)
            {
                return itemError.ToResult();
            }

            updates.Add(patch!);
        }

        if ((DuplicateId(updates.Select(u => u.Id).ToList(), $"{at}/update_records", "/id") ?? DuplicateId(deleteIds ?? [], $"{at}/delete_records", "")) is { } duplicate)
        {
            return duplicate.ToResult();
        }

        var actor = Actor(context);
        var result = await records.ApplyAsync(
            projectId, datasetId, new RecordBatch(inserts, updates, deleteIds ?? [], NewVersion: newVersion), actor, Now(time), NewRecordId,
            HoldCheck(holds, actor.OrgId, projectId, datasetId), context.RequestAborted);
        if (result.Outcome != RecordOutcome.Done)
        {
            return OutcomeError(result, projectId, datasetId, null).ToResult();
        }

        SetJobHeader(context, result);
        return RecordJson.Mutation(StatusCodes.Status200OK, result.Records!);
    }

    internal static string NewRecordId() => "rec-" + Guid.NewGuid().ToString();

    /// <summary>
    /// The hold that forbids deleting records of the dataset: one on the dataset, or on its project
    /// (asked of the lifecycle's hold checker inside the delete's transaction).
    /// </summary>
    internal static RecordHoldCheck HoldCheck(HoldChecker holds, string orgId, string projectId, string datasetId) => async (connection, transaction, cancellationToken) =>
        (await holds.FindAsync(connection, transaction, DatasetCascade.Kind, datasetId, orgId, cancellationToken)
            ?? await holds.FindAsync(connection, transaction, ProjectCascade.Kind, projectId, orgId, cancellationToken)) is { } hold
            ? new RecordHold(hold.Kind, hold.Id, hold.Reason)
            : null;

    /// <summary>A 400 at the second occurrence of an id that a list names twice (nothing is applied).</summary>
    internal static ApiError? DuplicateId(IReadOnlyList<string> ids, string listPointer, string suffix)
    {
        var first = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < ids.Count; i++)
        {
            if (!first.TryAdd(ids[i], i))
            {
                return JsonApi.Invalid($"{listPointer}/{i}{suffix}",
                    $"Item {i} names record '{ids[i]}' again (first at item {first[ids[i]]}); each record id may appear once per list. Nothing was applied.");
            }
        }

        return null;
    }

    private static void SetJobHeader(HttpContext context, RecordBatchResult result)
    {
        if (result.JobId is not null)
        {
            context.Response.Headers[Deletions.JobHeader] = result.JobId;
        }
    }

    internal static RecordActor Actor(HttpContext context) => new(ProjectEndpoints.Org(context), context.User.Actor());

    internal static long Now(TimeProvider time) => time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>A version query parameter: absent → null; else a whole number from 0 to 2147483647.</summary>
    internal static (long? Version, ApiError? Error) VersionParameter(IQueryCollection query, string name)
    {
        if (!query.TryGetValue(name, out var raw) || string.IsNullOrEmpty(raw))
        {
            return (null, null);
        }

        return int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var version)
            ? (version, null)
            : (null, JsonApi.InvalidParameter(name, $"{name} is '{raw}'; it must be a whole number from 0 to 2147483647."));
    }

    internal static ApiError OutcomeError(RecordBatchResult result, string projectId, string datasetId, string? itemsPointer) => result.Outcome switch
    {
        RecordOutcome.ProjectNotFound => DatasetEndpoints.ProjectNotFound(projectId),
        RecordOutcome.DatasetNotFound => DatasetEndpoints.DatasetNotFound(datasetId),
        RecordOutcome.UpdateNotFound => JsonApi.Invalid(
            $"{itemsPointer ?? "/data/attributes/update_records"}/{result.FailedIndex}/id",
            $"Item {result.FailedIndex} updates a record that is not in the dataset's current version (unknown, deleted, or deleted by this same request); nothing was applied."),
        RecordOutcome.InsertIdExists => JsonApi.Invalid(
            $"{itemsPointer ?? "/data/attributes/insert_records"}/{result.FailedIndex}/id",
            $"Item {result.FailedIndex} inserts a record id that the dataset (or this request) already has; update it instead, or leave 'id' out to get a new one. Nothing was applied."),
        RecordOutcome.DraftLocked => DatasetEndpoints.DraftLockedByOther(datasetId, result.Lock!.UserId, result.Lock.UserName, result.Lock.Since),
        RecordOutcome.Held => new ApiError(StatusCodes.Status403Forbidden, "LegalHold",
            $"Records of dataset '{datasetId}' cannot be deleted: the {result.Hold!.Kind} '{result.Hold.Id}' is under legal hold (reason: {result.Hold.Reason}); " +
            $"clear the hold with DELETE /runledger/v1/holds/{result.Hold.Kind}/{result.Hold.Id} before deleting. Nothing was applied."),
        _ => throw new InvalidOperationException($"Outcome {result.Outcome} has no error."),
    };

    /// <summary>
    /// An input, expected output or metadata value as stored: any JSON for the first two, an object or
    /// null for metadata. Read from the parsed element (no node per value); the item's pointer
    /// (<paramref name="list"/>/<paramref name="index"/>) is only written out for an error.
    /// </summary>
    internal static (RecordInsert? Insert, ApiError? Error) ReadInsert(JsonElement record, string list, int index, bool allowIdAndTags)
    {
        if (record.ValueKind != JsonValueKind.Object)
        {
            return (null, JsonApi.Invalid($"{list}/{index}", "Each record must be an object with at least 'input'."));
        }

        if (!record.TryGetProperty("input", out var input) || input.ValueKind == JsonValueKind.Null)
        {
            return (null, JsonApi.Invalid($"{list}/{index}/input", "'input' is required (any JSON value but null)."));
        }

        var metadata = ObjectMember(record, "metadata", list, index);
        if (metadata.Error is not null)
        {
            return (null, metadata.Error);
        }

        string? id = null;
        var tags = new TagOps();
        if (allowIdAndTags)
        {
            if (record.TryGetProperty("id", out var idElement) && idElement.ValueKind != JsonValueKind.Null)
            {
                id = idElement.ValueKind == JsonValueKind.String ? idElement.GetString() : null;
                if (string.IsNullOrEmpty(id) || id.Length > 255)
                {
                    return (null, JsonApi.Invalid($"{list}/{index}/id", "'id' must be a non-empty string of at most 255 characters (or left out to get a generated one)."));
                }
            }

            var (names, listError) = StringArray(record, "tags", $"{list}/{index}");
            var (ops, opsError) = ReadTagOps(record, list, index);
            if ((listError ?? opsError) is { } tagError)
            {
                return (null, tagError);
            }

            tags = names is null ? ops : Merge(ops, names);
        }

        var expected = record.TryGetProperty("expected_output", out var expectedElement) && expectedElement.ValueKind != JsonValueKind.Null
            ? RecordJson.StoredText(expectedElement)
            : null;
        return (new RecordInsert(id, RecordJson.StoredText(input), RecordJson.Hash(input), expected, metadata.Json, tags), null);
    }

    internal static (RecordPatch? Patch, ApiError? Error) ReadPatch(JsonElement record, string list, int index, bool allowTags)
    {
        if (record.ValueKind != JsonValueKind.Object)
        {
            return (null, JsonApi.Invalid($"{list}/{index}", "Each record update must be an object with at least 'id'."));
        }

        var id = record.TryGetProperty("id", out var idElement) && idElement.ValueKind == JsonValueKind.String ? idElement.GetString() : null;
        if (string.IsNullOrEmpty(id))
        {
            return (null, JsonApi.Invalid($"{list}/{index}/id", "'id' is required: the id of the record to update."));
        }

        var metadata = ObjectMember(record, "metadata", list, index);
        if (metadata.Error is not null)
        {
            return (null, metadata.Error);
        }

        var hasInput = record.TryGetProperty("input", out var input);
        if (hasInput && input.ValueKind == JsonValueKind.Null)
        {
            return (null, JsonApi.Invalid($"{list}/{index}/input", "'input' must not be null; leave it out to keep the current input."));
        }

        var tags = new TagOps();
        if (allowTags)
        {
            var (ops, opsError) = ReadTagOps(record, list, index);
            if (opsError is not null)
            {
                return (null, opsError);
            }

            tags = ops;
        }

        var setExpected = record.TryGetProperty("expected_output", out var expected);
        return (new RecordPatch(
            id,
            hasInput ? RecordJson.StoredText(input) : null,
            hasInput ? RecordJson.Hash(input) : null,
            setExpected,
            setExpected && expected.ValueKind != JsonValueKind.Null ? RecordJson.StoredText(expected) : null,
            metadata.Present,
            metadata.Json,
            tags), null);
    }

    /// <summary>An item's object member as stored: absent → (null, false); null → (null, true); else an object.</summary>
    private static (string? Json, bool Present, ApiError? Error) ObjectMember(JsonElement record, string name, string list, int index)
    {
        if (!record.TryGetProperty(name, out var value))
        {
            return (null, false, null);
        }

        return value.ValueKind switch
        {
            JsonValueKind.Null => (null, true, null),
            JsonValueKind.Object => (RecordJson.StoredText(value), true, null),
            var kind => (null, true, JsonApi.Invalid($"{list}/{index}/{name}", $"'{name}' must be an object, not {kind.ToString().ToLowerInvariant()}.")),
        };
    }

    private static (TagOps Ops, ApiError? Error) ReadTagOps(JsonElement record, string list, int index)
    {
        if (!record.TryGetProperty("tag_operations", out var ops) || ops.ValueKind == JsonValueKind.Null)
        {
            return (new TagOps(), null);
        }

        var pointer = $"{list}/{index}/tag_operations";
        if (ops.ValueKind != JsonValueKind.Object)
        {
            return (new TagOps(), JsonApi.Invalid(pointer, "'tag_operations' must be an object with 'remove', 'add' and/or 'set' lists."));
        }

        var (remove, removeError) = StringArray(ops, "remove", pointer);
        var (add, addError) = StringArray(ops, "add", pointer);
        var (set, setError) = StringArray(ops, "set", pointer);
        return (new TagOps(remove, add, set), removeError ?? addError ?? setError);
    }

    private static TagOps Merge(TagOps ops, IReadOnlyList<string> extra) =>
        ops.Set is not null ? ops with { Set = ops.Set.Concat(extra).ToList() } : ops with { Add = (ops.Add ?? []).Concat(extra).ToList() };

    private static (IReadOnlyList<JsonElement> Items, ApiError? Error) ItemArray(JsonElement attributes, string name, string at, bool required, int max, int tooLargeStatus)
    {
        var pointer = $"{at}/{name}";
        if (!attributes.TryGetProperty(name, out var node) || node.ValueKind == JsonValueKind.Null)
        {
            return ([], required ? JsonApi.Invalid(pointer, $"'{name}' is required: a list of records.") : null);
        }

        if (node.ValueKind != JsonValueKind.Array)
        {
            return ([], JsonApi.Invalid(pointer, $"'{name}' must be an array, not {node.ValueKind.ToString().ToLowerInvariant()}."));
        }

        var count = node.GetArrayLength();
        if (count > max)
        {
            return ([], new ApiError(tooLargeStatus, "TooManyItems", $"'{name}' has {count} records; the limit is {max} per request (Datasets:MaxBatchItems). Send smaller batches.") { SourcePointer = pointer });
        }

        var items = new List<JsonElement>(count);
        foreach (var item in node.EnumerateArray())
        {
            items.Add(item);
        }

        return (items, null);
    }

    private static (IReadOnlyList<string>? Values, ApiError? Error) StringArray(JsonElement parent, string name, string at)
    {
        if (!parent.TryGetProperty(name, out var node) || node.ValueKind == JsonValueKind.Null)
        {
            return (null, null);
        }

        if (node.ValueKind != JsonValueKind.Array)
        {
            return (null, JsonApi.Invalid($"{at}/{name}", $"'{name}' must be an array of strings."));
        }

        var values = new List<string>(node.GetArrayLength());
        var i = 0;
        foreach (var value in node.EnumerateArray())
        {
            if (value.ValueKind != JsonValueKind.String)
            {
                return (null, JsonApi.Invalid($"{at}/{name}/{i}", $"'{name}[{i}]' must be a string."));
            }

            values.Add(value.GetString()!);
            i++;
        }

        return (values, null);
    }

    private static (bool Value, ApiError? Error) Flag(JsonElement attributes, string name, bool defaultValue)
    {
        if (!attributes.TryGetProperty(name, out var node) || node.ValueKind == JsonValueKind.Null)
        {
            return (defaultValue, null);
        }

        return node.ValueKind switch
        {
            JsonValueKind.True => (true, null),
            JsonValueKind.False => (false, null),
            var kind => (defaultValue, JsonApi.Invalid("/data/attributes/" + name, $"'{name}' must be true or false, not {kind.ToString().ToLowerInvariant()}.")),
        };
    }
}
