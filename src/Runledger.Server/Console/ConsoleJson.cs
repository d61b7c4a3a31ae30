using System.Text.Json.Serialization;
using Runledger.Server.Admin;

namespace Runledger.Server.WebConsole;

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(SignInRequest))]
[JsonSerializable(typeof(SessionDto))]
[JsonSerializable(typeof(ResourceGroupList))]
[JsonSerializable(typeof(ExecutionPage))]
[JsonSerializable(typeof(ExecutionFilters))]
[JsonSerializable(typeof(ExecutionDetail))]
[JsonSerializable(typeof(LogTail))]
[JsonSerializable(typeof(MetricSeriesResponse))]
[JsonSerializable(typeof(DeleteTarget))]
[JsonSerializable(typeof(DeleteAccepted))]
[JsonSerializable(typeof(ConsolePreviewDto))]
[JsonSerializable(typeof(JobDto))]
internal sealed partial class ConsoleJson : JsonSerializerContext;
