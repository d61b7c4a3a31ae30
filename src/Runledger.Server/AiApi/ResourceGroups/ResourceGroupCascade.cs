using Runledger.Server.Lifecycle;

namespace Runledger.Server.AiApi.ResourceGroups;

/// <summary>
/// What deleting a resource group removes. Later features add their tables here as children;
/// every row of an AI API table carries <c>resource_group</c>, so one predicate finds them all.
/// </summary>
public sealed class ResourceGroupCascade : ICascadeRegistration
{
    public const string Kind = "resource_group";

    public void Register(CascadeRegistry registry)
    {
        registry.AddKind(new CascadeKind(
            Kind,
            MarkSql: "UPDATE resource_groups SET deleting_job_id = @JobId WHERE id = @TargetId AND deleting_job_id IS NULL",
            FinishSql: "DELETE FROM resource_groups WHERE id = @TargetId AND deleting_job_id = @JobId")
        {
            // The marked row keeps the id, so the name stays reserved during grace and no reuse can collide.
            RestoreSql = "UPDATE resource_groups SET deleting_job_id = NULL WHERE id = @TargetId AND deleting_job_id = @JobId",
            ExistsSql = "SELECT COUNT(*) FROM resource_groups WHERE id = @TargetId AND deleting_job_id IS NULL",
            Holdable = true,
            // Every /v2/lm request checks its group through the remembered look-up.
            EndsRememberedLookups = true,
        });
        const string owned = "resource_group = @TargetId";
        registry.AddChild(new CascadeChild(Kind, "execution_logs", "execution_logs", owned, Order: 10));
        registry.AddChild(new CascadeChild(Kind, "executions", "executions", owned, Order: 20));
        registry.AddChild(new CascadeChild(Kind, "configurations", "configurations", owned, Order: 30));
    }
}
