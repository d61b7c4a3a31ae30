using System.Text.Json;
using System.Text.Json.Nodes;
using Runledger.Server.LlmObs.Records;

namespace Runledger.Api.Tests;

/// <summary>
/// Records are deduplicated by the SHA-256 of their input's canonical JSON (keys sorted, no
/// whitespace), stored with each record: the hash of a given input must never change, or a record
/// stored before would no longer match the same input appended again. The expected values are the
/// hashes the first implementation stored. Request bodies are hashed from the parsed element and
/// CSV cells from a node: both must give those same hashes, and the same stored text.
/// </summary>
public sealed class RecordHashTests
{
    [Theory]
    [InlineData("""{"question":"What is 2 squared?"}""", "b1b4e892885eada1d0eb7d3b1debb435ffcc91446639bc6186f263b5cda59290")]
    [InlineData("""{ "b" : 1, "a" : [1, 2.50, -0, 1e3, true, false, null], "c" : {"z":"x","y":{"\u00e9":"é ü 日本","k":"<tag> & 'q' \"dq\" \\ / \b\f\n\r\t \u0001"}}}""", "d51cef1c12b7f16781e606bf2534cf9eaa7f2fd0fd1a5da4d8f16d3b4c7c8679")]
    [InlineData("\"plain string\"", "100e95befce5c34a8927f2359d07d340222625dd67a32ea9c96031c7f9b5f74a")]
    [InlineData("12345678901234567890", "6ed645ef0e1abea1bf1e4e935ff04f9e18d39812387f63cda3415b46240f0405")]
    [InlineData("[]", "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945")]
    [InlineData("{}", "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")]
    [InlineData("[{\"b\":2,\"a\":1},[],{},\"\\ud83d\\ude00 emoji 😀\"]", "a2a9011d32bc58aa1fbaa2e27eb56099107d4c25216a543edcc7f6659f7cb5ff")]
    [InlineData("""{"A":1,"a":2,"_":3,"10":4,"9":5}""", "26510226f2e1e02aab84ded4bc6d57cc7dc73c48f59dd71844a9aa49743d645e")]
    [InlineData("""{"only":{"z":1,"a":[{"y":2,"b":3}]}}""", "236d6512aeb7cfd32596aad2f2abba8ae90702f0e95ca35ed1ea969c3db8492b")]
    public void TheHashOfAnInput_IsTheOneStoredBefore(string input, string expected)
    {
        Assert.Equal(expected, RecordJson.Hash(JsonNode.Parse(input)));
        using var document = JsonDocument.Parse(input);
        Assert.Equal(expected, RecordJson.Hash(document.RootElement));
    }

    [Theory]
    [InlineData("""{ "b" : 1, "a" : [1, 2.50, -0, 1e3, true, false, null], "c" : {"z":"x","y":{"\u00e9":"é ü 日本","k":"<tag> & 'q' \"dq\" \\ / \b\f\n\r\t \u0001"}}}""")]
    [InlineData("[{\"b\":2,\"a\":1},[],{},\"\\ud83d\\ude00 emoji 😀\"]")]
    [InlineData("\"plain \\u0041 string\"")]
    [InlineData("12345678901234567890")]
    public void AnInputIsStored_AsItsNodeWouldBe(string input)
    {
        using var document = JsonDocument.Parse(input);
        Assert.Equal(JsonNode.Parse(input)!.ToJsonString(RecordJson.Stored), RecordJson.StoredText(document.RootElement));
    }

    [Fact]
    public void KeyOrderAndSpacing_DoNotChangeTheHash() =>
        Assert.Equal(
            RecordJson.Hash(JsonNode.Parse("""{"a":{"y":[1,{"q":null,"p":"v"}],"x":true},"b":"s"}""")),
            RecordJson.Hash(JsonNode.Parse("""{ "b": "s",  "a": { "x": true, "y": [ 1, { "p": "v", "q": null } ] } }""")));

    [Fact]
    public void NullInput_HasTheHashOfNull() =>
        Assert.Equal(RecordJson.Hash(JsonNode.Parse("null")), RecordJson.Hash(null));
}
