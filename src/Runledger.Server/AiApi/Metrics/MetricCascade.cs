using Runledger.Server.AiApi.Executions;
using Runledger.Server.AiApi.ResourceGroups;
using Runledger.Server.Lifecycle;

namespace Runledger.Server.AiApi.Metrics;

/// <summary>
/// Metrics as a deletable kind of their own (DELETE /v2/lm/metrics removes one metric resource),
/// and as children of an execution and of a resource group.
/// </summary>
public sealed class MetricCascade : ICascadeRegistration
{
    public const string Kind = "metrics";
    private static readonly string[] PointKey = ["resource_id", "ts", "step", "seq"];

    public void Register(CascadeRegistry registry)
    {
        registry.AddKind(new CascadeKind(
            Kind,
            MarkSql: "UPDATE metric_resources SET deleting_job_id = @JobId WHERE id = @TargetId AND resource_group = @Scope AND deleting_job_id IS NULL",
            FinishSql: "DELETE FROM metric_resources WHERE id = @TargetId AND deleting_job_id = @JobId")
        {
            RestoreSql = "UPDATE metric_resources SET deleting_job_id = NULL WHERE id = @TargetId AND resource_group = @Scope AND deleting_job_id = @JobId",

            // One live metric resource per execution: metrics logged after the delete took the place.
            NameTakenSql = """
                SELECT COUNT(*) FROM metric_resources live
                WHERE live.deleting_job_id IS NULL
                  AND live.execution_id = (SELECT m.execution_id FROM metric_resources m WHERE m.id = @TargetId)
                """,
            AncestorsSql = """
                SELECT 'resource_group' AS kind, @Scope AS id
                UNION ALL SELECT 'execution' AS kind, execution_id AS id FROM metric_resources WHERE id = @TargetId
                """,
            ExistsSql = "SELECT COUNT(*) FROM metric_resources WHERE id = @TargetId AND resource_group = @Scope AND deleting_job_id IS NULL",
        });
        // Both wheres select by resource_id alone: inside one resource's range nothing more is tested.
        registry.AddChild(new CascadeChild(Kind, "metric_points", "metric_points", "resource_id = @TargetId", Order: 1, PointKey, RangeWhere: ""));
        registry.AddChild(new CascadeChild(Kind, "metric_attributes", "metric_attributes", "resource_id = @TargetId", Order: 2));

        foreach (var (kind, owner) in new[] { (ExecutionCascade.Kind, "execution_id"), (ResourceGroupCascade.Kind, "resource_group") })
        {
            // A resource group's resources are walked in id order on (resource_group, id); an execution has one or a few.
            var (resources, walk) = CascadeChild.OwnedThrough("resource_id", "metric_resources", owner);
            registry.AddChild(new CascadeChild(kind, "metric_points", "metric_points", resources, Order: 1, PointKey, RangeWhere: "", owner == "resource_group" ? walk : null));
            registry.AddChild(new CascadeChild(kind, "metric_attributes", "metric_attributes", resources, Order: 2));
            registry.AddChild(new CascadeChild(kind, "metric_resources", "metric_resources", $"{owner} = @TargetId", Order: 3));
        }
    }
}
