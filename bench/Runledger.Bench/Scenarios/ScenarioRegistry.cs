namespace Runledger.Bench.Scenarios;

/// <summary>Every scenario, in the order <c>all</c> runs them. Add a new one here.</summary>
internal static class ScenarioRegistry
{
    public const string All = "all";

    public static IReadOnlyList<IScenario> Scenarios { get; } =
    [
        new ColdStartScenario(),
        new ExecutionDeleteScenario(),
        new ExecutionBulkScenario(),
        new MetricIngestScenario(),
        new MetricGetScenario(),
        new MetricDeleteScenario(),
        new RecordsDeleteScenario(),
        new ExecutionDelete1mScenario(),
        new ExperimentsDeleteScenario(),
        new ProjectsDeleteScenario(),
        new ReadsScenario(),
        new ReadsDuringCascadeScenario(),
    ];

    public static IEnumerable<string> Names => Scenarios.Select(s => s.Name).Append(All);

    /// <summary>The scenarios one command-line name selects: one, or all of them.</summary>
    public static IReadOnlyList<IScenario> Select(string name) =>
        name == All ? Scenarios : Scenarios.Where(s => s.Name == name).ToList();
}
