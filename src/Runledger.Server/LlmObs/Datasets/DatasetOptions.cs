using Microsoft.Extensions.Options;

namespace Runledger.Server.LlmObs.Datasets;

/// <summary>Limits of the dataset and record endpoints. Keys under <c>Datasets:</c>.</summary>
public sealed class DatasetOptions
{
    public const string Section = "Datasets";

    /// <summary>
    /// Most ids one delete request may name (<c>project_ids</c>, <c>dataset_ids</c>, <c>record_ids</c>);
    /// more is a 400 and nothing is deleted.
    /// </summary>
    public int MaxDeleteIds { get; set; } = 1000;

    /// <summary>
    /// Most record items (inserts + updates + deletes) one append, update or batch_update may carry;
    /// more is a 413 (batch_update) or 400 and nothing is applied.
    /// </summary>
    public int MaxBatchItems { get; set; } = 10_000;

    /// <summary>Rows written per transaction (and per <c>progress</c> event) by a CSV upload.</summary>
    public int UploadBatchSize { get; set; } = 1000;

    /// <summary>
    /// Bytes of record-list answers kept in memory (RecordListCache), keyed on the dataset's state so
    /// that a change of records is seen at once, on every node; 0 turns the cache off.
    /// </summary>
    public long ListCacheBytes { get; set; } = 16 * 1024 * 1024;
}

internal sealed class DatasetOptionsValidator : IValidateOptions<DatasetOptions>
{
    public ValidateOptionsResult Validate(string? name, DatasetOptions options)
    {
        var failures = new List<string>();
        if (options.MaxDeleteIds is < 1 or > 100_000)
        {
            failures.Add($"Datasets:MaxDeleteIds is {options.MaxDeleteIds}; use 1 to 100000.");
        }

        if (options.MaxBatchItems is < 1 or > 1_000_000)
        {
            failures.Add($"Datasets:MaxBatchItems is {options.MaxBatchItems}; use 1 to 1000000.");
        }

        if (options.ListCacheBytes is < 0 or > 1L << 30)
        {
            failures.Add($"Datasets:ListCacheBytes is {options.ListCacheBytes}; use 0 (off) to 1073741824.");
        }

        if (options.UploadBatchSize is < 1 or > 100_000)
        {
            failures.Add($"Datasets:UploadBatchSize is {options.UploadBatchSize}; use 1 to 100000.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
