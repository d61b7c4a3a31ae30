using System.CommandLine;
using System.Text.Json.Nodes;
using Runledger.Cli.Hosting;

namespace Runledger.Cli.Commands;

/// <summary><c>runledger resource-groups delete ID</c>: schedules the cascade and prints its job id (<c>--watch</c> follows it).</summary>
internal sealed class ResourceGroupsDeleteCommand : ApiCommand
{
    private readonly Argument<string> _id = ResourceGroupCommands.Id();

    public ResourceGroupsDeleteCommand(CliEnvironment environment)
        : base(environment, "delete", "Delete a resource group and everything in it (a deletion job does the work; follow it with 'deletions watch').") =>
        Arguments.Add(_id);

    protected override async Task<int> RunAsync(ParseResult parse, CliSession session, CancellationToken cancellationToken)
    {
        var id = parse.GetRequiredValue(_id);
        using var response = await session.SendRawAsync(HttpMethod.Delete, "/v2/admin/resourceGroups/" + Uri.EscapeDataString(id), null, cancellationToken);
        var jobId = response.Headers.TryGetValues("Runledger-Deletion-Job", out var values) ? values.FirstOrDefault() : null;
        if (session.Json)
        {
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken)) ?? new JsonObject();
            body["deletionJob"] = jobId;
            session.WriteJson(body);
        }
        else
        {
            session.WriteLine($"Deletion of resource group {id} scheduled as job {jobId}; follow it with: runledger deletions watch {jobId}");
        }

        return ExitCodes.Ok;
    }
}
