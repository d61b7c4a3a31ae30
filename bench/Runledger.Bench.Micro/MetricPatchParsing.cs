using System.Globalization;
using System.Text;
using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Runledger.Server.AiApi;
using Runledger.Server.AiApi.Metrics;
using Runledger.Storage.Metrics;

namespace Runledger.Bench.Micro;

/// <summary>
/// The request side of metric ingest: <c>PATCH /v2/lm/metrics</c>'s own handler reading the body,
/// deserialising it and validating every point, with a store that keeps nothing — what each
/// 1,000-point batch costs before it reaches the database.
/// </summary>
[MemoryDiagnoser]
public class MetricPatchParsing
{
    private byte[] _body = [];

    [Params(100, 1_000)]
    public int Points { get; set; }

    [Params(false, true)]
    public bool WithLabels { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _body = Body(Points, WithLabels);
        // A wrong answer would make the figure meaningless: the prepared body must be accepted.
        if (PatchAsync().GetAwaiter().GetResult().Result is not NoContent)
        {
            throw new InvalidOperationException("The prepared PATCH body was not accepted with 204.");
        }
    }

    [Benchmark]
    public Task<Results<NoContent, Runledger.Server.Hosting.ErrorResult>> PatchAsync()
    {
        var context = new DefaultHttpContext();
        context.Request.Method = HttpMethods.Patch;
        context.Request.ContentType = "application/merge-patch+json";
        context.Request.Body = new MemoryStream(_body, writable: false);
        context.Request.ContentLength = _body.Length;
        context.Features.Set(new ResourceGroupScope("default"));
        return MetricEndpoints.PatchAsync(context, DiscardingMetricStore.Instance, TimeProvider.System);
    }

    /// <summary>The body the load benchmark sends (alternating loss/accuracy, a step each), optionally with one label per point.</summary>
    internal static byte[] Body(int points, bool withLabels)
    {
        var json = new StringBuilder(points * 64).Append("{\"executionId\":\"bench-1\",\"metrics\":[");
        for (var i = 0; i < points; i++)
        {
            json.Append(i == 0 ? "" : ",").Append("{\"name\":\"").Append(i % 2 == 0 ? "loss" : "accuracy")
                .Append("\",\"value\":").Append((0.5 + (i * 1e-4)).ToString(CultureInfo.InvariantCulture))
                .Append(",\"step\":").Append(i);
            if (withLabels)
            {
                json.Append(",\"labels\":[{\"name\":\"split\",\"value\":\"train\"}]");
            }

            json.Append('}');
        }

        return Encoding.UTF8.GetBytes(json.Append("]}").ToString());
    }

    /// <summary>Accepts every batch and stores nothing: the benchmark measures the handler, not a database.</summary>
    private sealed class DiscardingMetricStore : IMetricStore
    {
        public static readonly DiscardingMetricStore Instance = new();

        public Task<bool> AppendAsync(string resourceGroup, string executionId, IReadOnlyList<MetricPointInput> points, IReadOnlyList<MetricAttributeRow> attributes, long now, CancellationToken cancellationToken) =>
            Task.FromResult(true);

        public Task<IReadOnlyList<MetricResourceRow>> ListLiveAsync(string resourceGroup, IReadOnlyList<string> executionIds, CancellationToken cancellationToken) =>
            throw new NotSupportedException();

        public IAsyncEnumerable<MetricPointRow> StreamPointsAsync(string resourceId, CancellationToken cancellationToken) =>
            throw new NotSupportedException();

        public Task<IReadOnlyList<MetricAttributeRow>> ListAttributesAsync(IReadOnlyList<string> resourceIds, CancellationToken cancellationToken) =>
            throw new NotSupportedException();

        public Task<MetricNameStats> GetNameStatsAsync(string resourceId, string name, CancellationToken cancellationToken) =>
            throw new NotSupportedException();

        public IAsyncEnumerable<MetricPointRow> StreamNamedPointsAsync(string resourceId, string name, long? fromTs, long? toTs, CancellationToken cancellationToken) =>
            throw new NotSupportedException();
    }
}
