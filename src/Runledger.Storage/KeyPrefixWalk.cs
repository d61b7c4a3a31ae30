using System.Data.Common;

namespace Runledger.Storage;

/// <summary>
/// The owners of a keyed cascade child, walked in order through the parent's own index, for a
/// dialect that removes the child one key prefix at a time (SQLite): the next prefix is the next
/// parent row instead of a look-up of the child's where, which on SQLite materialised the list of
/// every owner (a project's experiments, a resource group's metric resources) again for each
/// prefix and probed the emptied ones again, so a cascade over n owners cost n² probes.
/// <para>
/// <see cref="Sql"/> returns, in ascending order, at most <c>@WalkLimit</c> values of the child's
/// first key column greater than <c>@WalkAfter</c> (the empty string before the first page), each of
/// which meets the child's where (so that its rows may be removed by the prefix alone). The walk is
/// only a faster way through: a dialect ends a child only when the where itself finds no row, so a
/// row the walk passed over (an owner added behind it) is still removed.
/// </para>
/// One walk serves one child of one job for as long as the worker holds it; it is not persisted
/// (a job resumed elsewhere walks again from the start, past prefixes that are already empty).
/// </summary>
public sealed class KeyPrefixWalk(string sql, int pageSize = KeyPrefixWalk.DefaultPageSize)
{
    /// <summary>Owners read per statement.</summary>
    public const int DefaultPageSize = 1_000;

    private readonly Queue<object> _page = new();
    private object _after = "";
    private bool _lastPage;

    public string Sql { get; } = sql;

    /// <summary>The prefix to work on now (it stays current until <see cref="Advance"/>), or null when the walk has passed every owner.</summary>
    public async Task<object?> CurrentAsync(DbConnection connection, DbTransaction transaction, Dapper.DynamicParameters parameters, CancellationToken cancellationToken)
    {
        if (_page.Count == 0 && !_lastPage)
        {
            parameters.Add("WalkAfter", _after);
            parameters.Add("WalkLimit", pageSize);
            await using var reader = await Dapper.SqlMapper.ExecuteReaderAsync(connection, new Dapper.CommandDefinition(Sql, parameters, transaction, cancellationToken: cancellationToken));
            var read = 0;
            while (await reader.ReadAsync(cancellationToken))
            {
                _after = reader.GetValue(0);
                _page.Enqueue(_after);
                read++;
            }

            _lastPage = read < pageSize;
        }

        return _page.Count > 0 ? _page.Peek() : null;
    }

    /// <summary>The current prefix has no rows left: move to the next.</summary>
    public void Advance() => _page.Dequeue();
}
