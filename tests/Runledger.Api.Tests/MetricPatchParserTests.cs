using System.Text;
using Runledger.Server.AiApi;
using Runledger.Server.AiApi.Metrics;
using Runledger.Server.Hosting;

namespace Runledger.Api.Tests;

/// <summary>
/// The single-pass PATCH /v2/lm/metrics parser against the deserialise-and-validate path it stands
/// in for: whatever it accepts, that path accepts with the same points and attributes; whatever
/// that path refuses, it hands over (so the 400 is that path's). No store is involved: these are
/// pure functions of the body, the same on both providers.
/// </summary>
public sealed class MetricPatchParserTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    public static TheoryData<string, bool> Bodies => new()
    {
        // Accepted by the fast path (true): it must agree exactly.
        { """{"executionId":"exec-1","metrics":[{"name":"loss","value":0.5,"step":0},{"name":"accuracy","value":0.25,"step":1}]}""", true },
        { """{"executionId":"exec-1","metrics":[{"name":"loss","value":1,"labels":[{"name":"split","value":"train"}]},{"name":"loss","value":2,"labels":[{"name":"split","value":"test"}]},{"name":"loss","value":3,"labels":[{"name":"split","value":"train"}]},{"name":"loss","value":4,"labels":[]},{"name":"loss","value":5,"labels":null}]}""", true },
        { """{"executionId":"exec-1","metrics":[{"name":"lo\u0073s","value":1},{"name":"loss","value":2,"labels":[{"name":"metrics.ai.sap.com/Artifact.name","value":"é<&\"\u2028"}]}]}""", true },
        { """{"other":{"a":[1,{"b":null}]},"executionId":"exec-1","metrics":[{"x":[1,2],"name":"loss","value":-1e-300,"labels":[{"name":"a","value":"b","extra":{}}]}],"tags":[{"name":"t","value":"v","more":1}]}""", true },
        { """{"executionId":"exec-1","customInfo":[{"name":"c","value":"[[1,2]]"}],"tags":[{"name":"t","value":"v"},{"name":"t","value":"w"}],"metrics":[]}""", true },
        { """{"executionId":"exec-1","metrics":[{"name":"loss","value":1,"timestamp":"2026-01-01T01:00:00+01:00","step":null},{"name":"loss","value":2,"timestamp":null,"step":9007199254740993}]}""", true },
        { """{"executionId":"exec-1","metrics":null,"tags":null,"customInfo":null}""", true },
        { """ {"executionId":"exec-1"} """, true },
        { """{"executionId":"exec-1","metrics":[{"name":"loss\n","value":1}]}""", true },
        { ManyDistinct(), true },

        // Handed over (false): the fast path must return null whenever the other path refuses.
        { """{"executionId":"exec-1","metrics":[{"name":"loss","name":"acc","value":1}]}""", false },
        { """{"executionId":"exec-1","executionId":"exec-2"}""", false },
        { """{"executionId":"exec-1","metrics":[{"name":"loss","value":"1"}]}""", false },
        { """{"executionId":"exec-1","metrics":[{"name":"loss","value":1,"step":1.5}]}""", false },
        { """{"executionId":"exec-1","metrics":[{"name":"loss","value":1,"step":-1}]}""", false },
        { """{"executionId":"exec-1","metrics":[{"name":"loss","value":1e400}]}""", false },
        { """{"executionId":"exec-1","metrics":[{"name":"loss","value":1,"timestamp":"yesterday"}]}""", false },
        { """{"executionId":"exec-1","metrics":[{"name":"bad name!","value":1}]}""", false },
        { """{"executionId":"exec-1","metrics":[{"name":"loss"}]}""", false },
        { """{"executionId":"exec-1","metrics":[null]}""", false },
        { """{"executionId":"exec-1","metrics":[{"name":"loss","value":1,"labels":[{"name":"metrics.ai.sap.com/Other","value":"x"}]}]}""", false },
        { """{"executionId":"exec-1","metrics":[{"name":"loss","value":1,"labels":[{"name":"split","value":"a\u0000b"}]}]}""", false },
        { """{"executionId":"exec-1","metrics":[{"name":"loss","value":1,"labels":[{"name":"split"}]}]}""", false },
        { """{"executionId":"exec-1","tags":[{"name":"t","value":""}]}""", false },
        { "{\"executionId\":\"exec-1\",\"tags\":[{\"name\":\"t\",\"value\":\"" + new string('v', 257) + "\"}]}", false },
        { """{"executionId":"exec-1","metrics":[{"name":"loss","value":1}],}""", false },
        { """{"executionId":"exec-1",/* note */"metrics":[]}""", false },
        { """{"executionId":"exec-1"} {}""", false },
        { """{"executionId":"x"}""", false },
        { """{"executionId":5}""", false },
        { """[{"executionId":"exec-1"}]""", false },
        { "null", false },
        { """{"executionId":"exec-1","metrics":[{"name":"loss","value":1}""", false },
    };

    [Theory]
    [MemberData(nameof(Bodies))]
    public void FastPath_AgreesWithDeserialiseAndValidate(string json, bool fast) => AssertAgrees(Encoding.UTF8.GetBytes(json), fast);

    [Fact]
    public void FastPath_InvalidUtf8OrByteOrderMark_AgreesWithDeserialiseAndValidate()
    {
        var plain = Encoding.UTF8.GetBytes("""{"executionId":"exec-1","metrics":[{"name":"loss","value":1}]}""");
        AssertAgrees([0xEF, 0xBB, 0xBF, .. plain], fast: null);
        var broken = Encoding.UTF8.GetBytes("""{"executionId":"exec-1","metrics":[{"name":"loss","value":1,"labels":[{"name":"a","value":"XX"}]}]}""");
        var at = Array.IndexOf(broken, (byte)'X');
        broken[at] = 0xC3;
        broken[at + 1] = 0x28;
        AssertAgrees(broken, fast: false);
    }

    /// <summary><paramref name="fast"/>: whether the fast path must take the body (null: either is right, only agreement counts).</summary>
    private static void AssertAgrees(byte[] body, bool? fast)
    {
        var parsed = MetricPatchParser.TryParse(body, Now);
        var deserialised = JsonBody.Deserialize(body, AiApiJson.Default.MetricPatchRequest);
        var validated = deserialised.Ok ? MetricEndpoints.Validate(deserialised.Value!, Now) : default;
        var slowOk = deserialised.Ok && validated.Error is null;
        if (fast is { } expected)
        {
            Assert.Equal(expected, parsed is not null);
        }

        if (parsed is null)
        {
            return;
        }

        Assert.True(slowOk, "the fast path accepted a body that the validating path refuses");
        Assert.Equal(deserialised.Value!.ExecutionId, parsed.ExecutionId);
        Assert.Equal(validated.Points!, parsed.Points);
        Assert.Equal(validated.Attributes!, parsed.Attributes);
    }

    /// <summary>More distinct names and label sets than the parser remembers per request.</summary>
    private static string ManyDistinct()
    {
        var json = new StringBuilder("""{"executionId":"exec-1","metrics":[""");
        for (var i = 0; i < 100; i++)
        {
            json.Append(i == 0 ? "" : ",").Append($$"""{"name":"m{{i % 50}}","value":{{i}},"step":{{i}},"labels":[{"name":"k","value":"v{{i % 40}}"}]}""");
        }

        return json.Append("]}").ToString();
    }
}
