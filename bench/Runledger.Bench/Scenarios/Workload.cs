using Runledger.Bench.Harness;

namespace Runledger.Bench.Scenarios;

internal static class Workload
{
    /// <summary>
    /// <paramref name="count"/> distinct seeded execution ids, spread over the whole table in a fixed
    /// pseudo-random order (the same every run, so runs compare), not a run of neighbouring rows.
    /// </summary>
    public static IReadOnlyList<string> DistinctExecutionIds(int seededRows, int count)
    {
        if (count > seededRows)
        {
            throw new ArgumentOutOfRangeException(nameof(count), $"{count} distinct executions were asked for, but only {seededRows} are seeded.");
        }

        var numbers = Enumerable.Range(1, seededRows).ToArray();
#pragma warning disable CA5394 // Not security: a fixed seed makes the order reproducible.
        new Random(20_260_101).Shuffle(numbers);
#pragma warning restore CA5394
        return numbers.Take(count).Select(BenchIds.Execution).ToList();
    }
}
