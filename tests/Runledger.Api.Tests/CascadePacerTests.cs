using Runledger.Server.Lifecycle;

namespace Runledger.Api.Tests;

/// <summary>
/// How long the deletion worker pauses after a full batch (<see cref="CascadePacer.Pause"/>): only
/// while the node serves more than the busy rate, and then enough that cascades take the configured
/// share of the time. Its effect on reads is measured by the bench (reads-during-cascade).
/// </summary>
public sealed class CascadePacerTests
{
    [Theory]
    // No requests, or a status poll now and then: flat out.
    [InlineData(10, 0, 200, 0.5, 0)]
    [InlineData(10, 1, 200, 0.5, 0)]
    // 2,000 requests/s during a 10 ms batch: busy, so half the time -> a 10 ms pause; a quarter -> 30 ms.
    [InlineData(10, 20, 200, 0.5, 10)]
    [InlineData(10, 20, 200, 0.25, 30)]
    // Exactly at the busy rate counts as busy; share 1 never yields; a zero-length batch owes nothing.
    [InlineData(100, 20, 200, 0.5, 100)]
    [InlineData(10, 20, 200, 1, 0)]
    [InlineData(0, 20, 200, 0.5, 0)]
    public void PauseAfterABatch(double batchMs, long requests, double busyRate, double share, double expectedMs) =>
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), CascadePacer.Pause(TimeSpan.FromMilliseconds(batchMs), requests, busyRate, share));
}
