namespace Runledger.Server.Lifecycle;

/// <summary>
/// One deletable kind, described as data so that one engine serves every dialect.
/// SQL parameters available to every statement: <c>@TargetId</c>, <c>@Scope</c>, <c>@JobId</c>.
/// </summary>
/// <param name="Kind">Job kind, e.g. <c>resource_group</c>.</param>
/// <param name="MarkSql">Hides the target from readers; must affect exactly one row, and none when it is already being deleted.</param>
/// <param name="FinishSql">Removes (or tombstones) the target itself once all children are gone.</param>
public sealed record CascadeKind(string Kind, string MarkSql, string FinishSql);

/// <summary>
/// A child table emptied before the target is finished, in bounded batches.
/// <paramref name="Where"/> selects the rows owned by the target (e.g. <c>resource_group = @TargetId</c>).
/// Children are emptied in ascending <paramref name="Order"/>: leaves first. A table without an
/// implicit row id (SQLite WITHOUT ROWID) names its primary key in <paramref name="KeyColumns"/>.
/// </summary>
public sealed record CascadeChild(string Kind, string Name, string Table, string Where, int Order, IReadOnlyList<string>? KeyColumns = null);

/// <summary>A feature's contribution to the registry (kinds it owns, children it adds to other kinds).</summary>
public interface ICascadeRegistration
{
    void Register(CascadeRegistry registry);
}

/// <summary>Kinds and their children, filled from every <see cref="ICascadeRegistration"/> at start-up.</summary>
public sealed class CascadeRegistry
{
    private readonly Dictionary<string, CascadeKind> _kinds = new(StringComparer.Ordinal);
    private readonly List<CascadeChild> _children = [];

    public CascadeRegistry(IEnumerable<ICascadeRegistration> registrations)
    {
        foreach (var registration in registrations)
        {
            registration.Register(this);
        }
    }

    public CascadeRegistry AddKind(CascadeKind kind)
    {
        if (!_kinds.TryAdd(kind.Kind, kind))
        {
            throw new InvalidOperationException($"Cascade kind '{kind.Kind}' is registered twice.");
        }

        return this;
    }

    public CascadeRegistry AddChild(CascadeChild child)
    {
        if (_children.Any(c => c.Kind == child.Kind && c.Name == child.Name))
        {
            throw new InvalidOperationException($"Child '{child.Name}' of '{child.Kind}' is registered twice.");
        }

        _children.Add(child);
        return this;
    }

    public CascadeKind Kind(string kind) =>
        _kinds.TryGetValue(kind, out var found) ? found : throw new InvalidOperationException($"No cascade kind '{kind}' is registered.");

    public IReadOnlyList<CascadeChild> ChildrenOf(string kind) =>
        _children.Where(c => c.Kind == kind).OrderBy(c => c.Order).ThenBy(c => c.Name, StringComparer.Ordinal).ToList();
}
