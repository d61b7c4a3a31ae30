using System.Globalization;
using System.Text.Json.Nodes;

namespace Runledger.Api.Tests.Support;

/// <summary>
/// Checks a "newest first" listing gathered over all its cursor pages: every created item exactly
/// once, ordered by <c>created_at</c> descending with ties (items created in the same millisecond)
/// broken by id descending, as the stores order them; and the times agree with the creation order.
/// </summary>
public static class NewestFirst
{
    public static void AssertOrder(IReadOnlyList<string> createdInOrder, IReadOnlyList<JsonNode> listed)
    {
        var seen = listed.Select(item => (
            Id: (string)item["id"]!,
            CreatedAt: DateTimeOffset.Parse((string)(item["attributes"]?["created_at"] ?? item["created_at"])!, CultureInfo.InvariantCulture))).ToList();
        Assert.Equal(createdInOrder.Order(StringComparer.Ordinal), seen.Select(s => s.Id).Order(StringComparer.Ordinal));
        for (var i = 1; i < seen.Count; i++)
        {
            var (previous, current) = (seen[i - 1], seen[i]);
            Assert.True(
                previous.CreatedAt > current.CreatedAt || (previous.CreatedAt == current.CreatedAt && string.CompareOrdinal(previous.Id, current.Id) > 0),
                $"{previous.Id} ({previous.CreatedAt:O}) is listed before {current.Id} ({current.CreatedAt:O}): not newest first.");
        }

        var createdAt = seen.ToDictionary(s => s.Id, s => s.CreatedAt);
        for (var i = 1; i < createdInOrder.Count; i++)
        {
            Assert.True(createdAt[createdInOrder[i - 1]] <= createdAt[createdInOrder[i]], $"{createdInOrder[i]} was created after {createdInOrder[i - 1]} but has an earlier created_at.");
        }
    }
}
