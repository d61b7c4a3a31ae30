using Runledger.Bench.Harness;
using Runledger.Bench.Report;

namespace Runledger.Bench.Scenarios;

/// <summary>
/// One measurement of design.md's "Performance targets". A scenario starts its own server(s) on
/// fresh stores, adds its figures to <see cref="ScenarioResult"/>, and throws
/// <see cref="BenchCheckException"/> when the server answered wrongly (its figures would mean nothing).
/// </summary>
internal interface IScenario
{
    /// <summary>The name on the command line (kebab-case).</summary>
    string Name { get; }

    string Description { get; }

    /// <summary>A hard limit on the scenario's run time; past it the scenario is cancelled and reported as failed.</summary>
    TimeSpan Budget { get; }

    Task RunAsync(BenchContext context, ScenarioResult result, CancellationToken cancellationToken);
}
