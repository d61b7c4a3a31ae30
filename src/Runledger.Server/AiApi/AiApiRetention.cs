using Runledger.Server.AiApi.Executions;
using Runledger.Server.AiApi.ResourceGroups;
using Runledger.Server.Lifecycle;

namespace Runledger.Server.AiApi;

/// <summary>
/// Retention policies of a resource group: terminal executions older than N days (by completion,
/// else last change) and metric points older than N days (by their timestamp). Old points are a
/// cascade kind of their own, <c>metric_points_expired</c>, whose target is the group and whose
/// job carries the cutoff: the group stays, only its old points go.
/// </summary>
public sealed class AiApiRetention : ICascadeRegistration
{
    public const string ExpiredPointsKind = "metric_points_expired";

    public void Register(CascadeRegistry registry)
    {
        registry.AddKind(new CascadeKind(
            ExpiredPointsKind,

            // Nothing to hide: the statement only proves the group is live (one row) for the scheduler.
            MarkSql: "UPDATE resource_groups SET deleting_job_id = deleting_job_id WHERE id = @TargetId AND deleting_job_id IS NULL",
            FinishSql: "DELETE FROM resource_groups WHERE 1 = 0")
        {
            AncestorsSql = "SELECT 'resource_group' AS kind, @TargetId AS id",
            ExistsSql = "SELECT COUNT(*) FROM resource_groups WHERE id = @TargetId AND deleting_job_id IS NULL",
        });
        registry.AddChild(new CascadeChild(
            ExpiredPointsKind,
            "metric_points",
            "metric_points",
            // Points of an execution under legal hold stay; the worker checks holds under the hold lock in each batch.
            """
            resource_id IN (SELECT m.id FROM metric_resources m WHERE m.resource_group = @TargetId
                            AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.kind = 'execution' AND h.target_id = m.execution_id))
              AND ts < @Cutoff
            """,
            Order: 1,
            ["resource_id", "ts", "step", "seq"],
            RangeWhere: "ts < @Cutoff"));

        registry.AddRetentionPolicy(new RetentionPolicyKind(
            "terminal_executions",
            ResourceGroupCascade.Kind,
            ExecutionCascade.Kind,
            """
            SELECT id, resource_group AS scope FROM executions
            WHERE resource_group = @ScopeId AND deleting_job_id IS NULL
              AND status IN ('COMPLETED', 'DEAD', 'STOPPED', 'UNKNOWN')
              AND COALESCE(completion_time, modified_at) < @Cutoff
            ORDER BY created_at, id
            LIMIT @Limit
            """,
            "Deletes executions that ended (COMPLETED, DEAD, STOPPED, UNKNOWN) more than N days ago, with their logs and metrics."));
        registry.AddRetentionPolicy(new RetentionPolicyKind(
            "metrics",
            ResourceGroupCascade.Kind,
            ExpiredPointsKind,
            """
            SELECT g.id, g.id AS scope FROM resource_groups g
            WHERE g.id = @ScopeId AND g.deleting_job_id IS NULL
              AND EXISTS (SELECT 1 FROM metric_resources m JOIN metric_points p ON p.resource_id = m.id
                          WHERE m.resource_group = @ScopeId AND p.ts < @Cutoff
                            AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.kind = 'execution' AND h.target_id = m.execution_id))
            """,
            "Deletes metric points whose timestamp is more than N days old; executions, tags, newer points and the points of executions under legal hold stay.",
            ByAge: true));
    }
}
