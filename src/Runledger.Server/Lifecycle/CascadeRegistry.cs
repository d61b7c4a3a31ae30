using Runledger.Storage;

namespace Runledger.Server.Lifecycle;

/// <summary>
/// One deletable kind, described as data so that one engine serves every dialect.
/// SQL parameters available to every statement: <c>@TargetId</c>, <c>@Scope</c>, <c>@JobId</c>.
/// </summary>
/// <param name="Kind">Job kind, e.g. <c>resource_group</c>.</param>
/// <param name="MarkSql">Hides the target from readers; must affect exactly one row, and none when it is already being deleted.</param>
/// <param name="FinishSql">Removes (or tombstones) the target itself once all children are gone.</param>
public sealed record CascadeKind(string Kind, string MarkSql, string FinishSql)
{
    /// <summary>The values of the parameters every statement of a kind may use (<c>@Cutoff</c>: age-based kinds; null otherwise), for <see cref="SqlDialect.ExecuteAsync"/>.</summary>
    public static RowParameter[] Parameters(string targetId, string scope, string jobId, long? cutoff) =>
        [RowParameter.Of("@TargetId", targetId), RowParameter.Of("@Scope", scope), RowParameter.Of("@JobId", jobId), RowParameter.Of("@Cutoff", cutoff)];

    /// <summary>
    /// Undoes <see cref="MarkSql"/> within grace (children were never touched); must affect exactly
    /// one row, e.g. <c>UPDATE … SET deleting_job_id = NULL WHERE id = @TargetId AND deleting_job_id = @JobId</c>.
    /// Null: the kind cannot be restored.
    /// </summary>
    public string? RestoreSql { get; init; }

    /// <summary>
    /// For kinds whose names are unique among live rows: a count above 0 means the marked target's
    /// name was taken meanwhile, so a restore would collide and is refused.
    /// </summary>
    public string? NameTakenSql { get; init; }

    /// <summary>
    /// Rows <c>(kind, id)</c> of what contains the target (e.g. its resource group or project),
    /// used to refuse deletes inside a held target. Null: the kind has no ancestors.
    /// </summary>
    public string? AncestorsSql { get; init; }

    /// <summary>A count above 0 when the target is live (exists and is not being deleted); used by preview and holds.</summary>
    public string? ExistsSql { get; init; }

    /// <summary>Whether a legal hold may be set on targets of this kind (needs <see cref="ExistsSql"/>); deletes of it, inside it and of what contains it are then refused.</summary>
    public bool Holdable { get; init; }

    /// <summary>
    /// Marking a target of this kind ends an answer that <see cref="Storage.LookupCache"/> remembers
    /// (e.g. "this resource group is visible"): scheduling it forgets them, before and after its commit.
    /// </summary>
    public bool EndsRememberedLookups { get; init; }

    /// <summary>Grace when <c>Lifecycle:Grace:&lt;kind&gt;</c> is not configured; zero reclaims at once.</summary>
    public TimeSpan DefaultGrace { get; init; }
}

/// <summary>
/// A child table emptied before the target is finished, in bounded batches.
/// <paramref name="Where"/> selects the rows owned by the target (e.g. <c>resource_group = @TargetId</c>).
/// Children are emptied in ascending <paramref name="Order"/>: leaves first. A table without an
/// implicit row id (SQLite WITHOUT ROWID) names its primary key in <paramref name="KeyColumns"/>.
/// <paramref name="RangeWhere"/>, for such a table: what a row must still satisfy once its first key
/// column is known to meet <paramref name="Where"/> (SQLite removes it one key prefix at a time and
/// looks the prefix up with <paramref name="Where"/>): "" when <paramref name="Where"/> depends on
/// that column alone, e.g. <c>ts &lt; @Cutoff</c> for old points; null (the default) tests
/// <paramref name="Where"/> in full on every row. <paramref name="PrefixWalk"/>, for such a table whose
/// where names its owners through another table (a project's experiments): the SQL of a
/// <see cref="KeyPrefixWalk"/> that walks those owners in the order of their own index, so that each
/// prefix is one step of that index instead of a look-up with <paramref name="Where"/>.
/// </summary>
public sealed record CascadeChild(
    string Kind, string Name, string Table, string Where, int Order, IReadOnlyList<string>? KeyColumns = null, string? RangeWhere = null, string? PrefixWalk = null)
{
    /// <summary>
    /// For a child owned through rows of another table (points through a resource group's metric
    /// resources): the where, <paramref name="column"/> among the ids of <paramref name="ownerTable"/>'s
    /// rows whose <paramref name="ownerColumn"/> is the target, and the <see cref="PrefixWalk"/> over
    /// those same rows in id order (needs an index on (<paramref name="ownerColumn"/>, id)), built
    /// together so the walk never yields an owner the where would not.
    /// </summary>
    public static (string Where, string Walk) OwnedThrough(string column, string ownerTable, string ownerColumn) =>
        ($"{column} IN (SELECT id FROM {ownerTable} WHERE {ownerColumn} = @TargetId)",
         $"SELECT id FROM {ownerTable} WHERE {ownerColumn} = @TargetId AND id > @WalkAfter ORDER BY id LIMIT @WalkLimit");
}

/// <summary>
/// A retention policy a scope (resource group, project) can switch on with a number of days.
/// <paramref name="CandidatesSql"/> returns rows <c>(id, scope)</c> of <paramref name="Kind"/> targets to
/// delete now, given <c>@ScopeId</c>, <c>@Cutoff</c> (now − days, Unix ms) and <c>@Limit</c>. Each target
/// becomes an ordinary deletion job; when <paramref name="ByAge"/> the job carries the cutoff (<c>@Cutoff</c>
/// in the kind's SQL), for kinds that remove old rows of a live target.
/// </summary>
public sealed record RetentionPolicyKind(string Name, string ScopeKind, string Kind, string CandidatesSql, string Description, bool ByAge = false);

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
    private readonly Dictionary<(string ScopeKind, string Name), RetentionPolicyKind> _policies = [];

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

    public CascadeRegistry AddRetentionPolicy(RetentionPolicyKind policy)
    {
        if (!_policies.TryAdd((policy.ScopeKind, policy.Name), policy))
        {
            throw new InvalidOperationException($"Retention policy '{policy.Name}' of '{policy.ScopeKind}' is registered twice.");
        }

        return this;
    }

    /// <summary>Every retention policy, by scope kind then name.</summary>
    public IReadOnlyList<RetentionPolicyKind> RetentionPolicies =>
        _policies.Values.OrderBy(p => p.ScopeKind, StringComparer.Ordinal).ThenBy(p => p.Name, StringComparer.Ordinal).ToList();

    public RetentionPolicyKind? RetentionPolicy(string scopeKind, string name) => _policies.GetValueOrDefault((scopeKind, name));

    public CascadeKind Kind(string kind) =>
        _kinds.TryGetValue(kind, out var found) ? found : throw new InvalidOperationException($"No cascade kind '{kind}' is registered.");

    public bool IsKnown(string kind) => _kinds.ContainsKey(kind);

    /// <summary>Every registered kind name, sorted.</summary>
    public IReadOnlyList<string> KindNames => _kinds.Keys.Order(StringComparer.Ordinal).ToList();

    public IReadOnlyList<CascadeChild> ChildrenOf(string kind) =>
        _children.Where(c => c.Kind == kind).OrderBy(c => c.Order).ThenBy(c => c.Name, StringComparer.Ordinal).ToList();
}
