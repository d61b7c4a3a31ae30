using System.Globalization;
using Dapper;
using Runledger.Storage;

namespace Runledger.Server.Lifecycle;

public sealed record PreviewTarget(string Kind, string Id, string Scope, long? Cutoff = null);

/// <summary>
/// What deleting one target would remove, counted with the same predicates the worker deletes by:
/// rows per child (and the target itself, under its kind's name — the keys of a job's progress).
/// </summary>
public sealed record PreviewResult(
    PreviewTarget Target,
    bool Found,
    Dictionary<string, long> Rows,
    Dictionary<string, List<string>> Samples,
    TimeSpan Grace,
    bool Restorable,
    HoldRef? Hold);

/// <summary>Dry-run of a deletion: reads only, changes nothing.</summary>
public sealed class DeletionPreviewer(IDatabase database, CascadeRegistry registry, GracePeriods grace, HoldChecker holds)
{
    public const int SampleSize = 10;

    public async Task<PreviewResult> PreviewAsync(PreviewTarget target, CancellationToken cancellationToken)
    {
        var cascade = registry.Kind(target.Kind);
        var parameters = new DynamicParameters(new { TargetId = target.Id, target.Scope, JobId = (string?)null, target.Cutoff });
        await using var connection = await database.OpenAsync(cancellationToken);
        var found = cascade.ExistsSql is null
            || await connection.ExecuteScalarAsync<long>(new CommandDefinition(cascade.ExistsSql, parameters, cancellationToken: cancellationToken)) > 0;
        var period = grace.Of(target.Kind);
        var restorable = cascade.RestoreSql is not null && period > TimeSpan.Zero;
        if (!found)
        {
            return new PreviewResult(target, false, [], [], period, restorable, null);
        }

        var rows = new Dictionary<string, long>(StringComparer.Ordinal);
        var samples = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var child in registry.ChildrenOf(target.Kind))
        {
            rows[child.Name] = rows.GetValueOrDefault(child.Name) + await connection.ExecuteScalarAsync<long>(new CommandDefinition(
                $"SELECT COUNT(*) FROM {child.Table} WHERE {child.Where}", parameters, cancellationToken: cancellationToken));
            var sample = await connection.QueryAsync(new CommandDefinition(
                $"SELECT * FROM {child.Table} WHERE {child.Where} LIMIT {SampleSize}", parameters, cancellationToken: cancellationToken));
            samples[child.Name] = sample.Select(row => Key((IDictionary<string, object?>)row, child.KeyColumns)).ToList();
        }

        // The target itself: FinishSql removes its one row (age-based kinds have no row of their own).
        rows[target.Kind] = cascade.ExistsSql is null ? 0 : 1;
        var hold = await holds.FindAsync(connection, null, target.Kind, target.Id, target.Scope, cancellationToken);
        return new PreviewResult(target, true, rows, samples, period, restorable, hold);
    }

    /// <summary>The key columns when the child names them, else <c>id</c>, else the first three columns joined by '/'.</summary>
    private static string Key(IDictionary<string, object?> row, IReadOnlyList<string>? keyColumns)
    {
        IEnumerable<string> columns = keyColumns ?? (row.ContainsKey("id") ? ["id"] : row.Keys.Take(3));
        return string.Join('/', columns.Select(c => Convert.ToString(row[c], CultureInfo.InvariantCulture)));
    }
}
