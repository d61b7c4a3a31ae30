using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;
using Runledger.Server.Auth;
using Runledger.Server.Hosting;
using Runledger.Server.Lifecycle;
using Runledger.Storage.ResourceGroups;

namespace Runledger.Server.AiApi.ResourceGroups;

/// <summary><c>/v2/admin/resourceGroups</c> (spec: kubesubmit.v4.resourcegroups.*).</summary>
public static partial class ResourceGroupEndpoints
{
    public const string DeletionJobHeader = "Runledger-Deletion-Job";

    /// <summary>Continue tokens expire, as the spec says they typically do, after this long.</summary>
    private static readonly TimeSpan ContinueTokenLifetime = TimeSpan.FromMinutes(15);

    public static RouteGroupBuilder MapResourceGroups(this RouteGroupBuilder group)
    {
        group.MapPost("/resourceGroups", CreateAsync);
        group.MapGet("/resourceGroups", ListAsync);
        group.MapGet("/resourceGroups/{resourceGroupId}", GetAsync);
        group.MapPatch("/resourceGroups/{resourceGroupId}", PatchAsync);
        group.MapDelete("/resourceGroups/{resourceGroupId}", DeleteAsync);
        return group;
    }

    public static async Task<Results<JsonHttpResult<ResourceGroupBase>, ErrorResult>> CreateAsync(
        HttpContext context, IResourceGroupStore store, TimeProvider time)
    {
        var body = await JsonBody.ReadAsync(context, AiApiJson.Default.ResourceGroupCreateRequest, "application/json");
        if (!body.Ok)
        {
            return body.Error!.ToResult();
        }

        var request = body.Value!;
        if (ValidateId(request.ResourceGroupId, "resourceGroupId") is { } idError)
        {
            return idError.ToResult();
        }

        if (ValidateLabels(request.Labels) is { } labelError)
        {
            return labelError.ToResult();
        }

        var id = request.ResourceGroupId!;
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var outcome = await store.CreateAsync(
            new ResourceGroupRow { Id = id, TenantId = StartupTasks.DefaultOrg, Labels = SerializeLabels(request.Labels), Status = "PROVISIONED", CreatedAt = now, ModifiedAt = now },
            context.RequestAborted);
        return outcome switch
        {
            CreateOutcome.Created => TypedResults.Json(new ResourceGroupBase(id, StartupTasks.DefaultOrg, StartupTasks.DefaultOrg), AiApiJson.Default.ResourceGroupBase, statusCode: StatusCodes.Status202Accepted),
            CreateOutcome.BeingDeleted => new ApiError(StatusCodes.Status409Conflict, "ResourceGroupBeingDeleted",
                $"Resource group '{id}' is being deleted; its name can be used again once that deletion has finished.").ToResult(),
            _ => new ApiError(StatusCodes.Status409Conflict, "ResourceGroupAlreadyExists", $"Resource group '{id}' already exists; choose another resourceGroupId.").ToResult(),
        };
    }

    public static async Task<Results<JsonHttpResult<ResourceGroupList>, ErrorResult>> ListAsync(
        HttpContext context, IResourceGroupStore store, TimeProvider time)
    {
        var query = context.Request.Query;
        if (NonNegative(query, "$top") is { Error: { } topError })
        {
            return topError.ToResult();
        }

        if (NonNegative(query, "$skip") is { Error: { } skipError })
        {
            return skipError.ToResult();
        }

        var top = NonNegative(query, "$top").Value;
        var skip = NonNegative(query, "$skip").Value ?? 0;
        var countAll = false;
        if (query.TryGetValue("$count", out var countValue) && !bool.TryParse(countValue, out countAll))
        {
            return ApiError.BadRequest("InvalidParameter", $"$count is '{countValue}'; use true or false.").ToResult();
        }

        var selectors = new List<(string Key, string Value, bool Equal)>();
        foreach (var item in query["labelSelector"].SelectMany(v => (v ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries)))
        {
            var match = LabelSelector().Match(item);
            if (!match.Success)
            {
                return ApiError.BadRequest("InvalidParameter", $"labelSelector item '{item}' is not of the form key=value or key!=value.").ToResult();
            }

            selectors.Add((match.Groups["key"].Value, match.Groups["value"].Value, match.Groups["op"].Value == "="));
        }

        var all = (await store.ListVisibleAsync(context.RequestAborted)).Select(ToDto)
            .Where(rg => selectors.All(s => rg.Labels.Any(l => l.Key == s.Key && l.Value == s.Value) == s.Equal))
            .ToList();
        IEnumerable<ResourceGroupDto> page = all.Skip(skip);
        if (top is { } topValue)
        {
            page = page.Take(topValue);
        }

        var selected = page.ToList();

        // Prefer: maxpagesize=N splits the selection; the rest is reachable through the Link header.
        var offset = 0;
        if (query.TryGetValue("continueToken", out var token))
        {
            if (!TryReadContinueToken(token.ToString(), time, out offset))
            {
                return new ApiError(StatusCodes.Status410Gone, "ResourceExpired", "The continueToken is unknown or expired; restart the list request without it.").ToResult();
            }
        }

        var pageSize = MaxPageSize(context.Request.Headers["Prefer"].ToString());
        if (pageSize is { } size)
        {
            var chunk = selected.Skip(offset).Take(size).ToList();
            if (offset + size < selected.Count)
            {
                var next = NewContinueToken(offset + size, time);
                var link = $"{context.Request.Scheme}://{context.Request.Host}{context.Request.PathBase}{context.Request.Path}{QueryWithToken(context.Request.Query, next)}";
                context.Response.Headers.Link = $"<{link}>; rel=\"next\"";
            }

            selected = chunk;
        }

        return TypedResults.Json(new ResourceGroupList(countAll ? all.Count : selected.Count, selected), AiApiJson.Default.ResourceGroupList);
    }

    public static async Task<Results<JsonHttpResult<ResourceGroupDto>, ErrorResult>> GetAsync(
        string resourceGroupId, IResourceGroupStore store, CancellationToken cancellationToken)
    {
        if (ValidateId(resourceGroupId, "resourceGroupId") is { } idError)
        {
            return idError.ToResult();
        }

        var row = await store.GetVisibleAsync(resourceGroupId, cancellationToken);
        return row is null ? NotFound(resourceGroupId).ToResult() : TypedResults.Json(ToDto(row), AiApiJson.Default.ResourceGroupDto);
    }

    public static async Task<Results<Accepted, ErrorResult>> PatchAsync(
        string resourceGroupId, HttpContext context, IResourceGroupStore store, TimeProvider time)
    {
        if (ValidateId(resourceGroupId, "resourceGroupId") is { } idError)
        {
            return idError.ToResult();
        }

        var body = await JsonBody.ReadAsync(context, AiApiJson.Default.ResourceGroupPatchRequest, "application/json", "application/merge-patch+json");
        if (!body.Ok)
        {
            return body.Error!.ToResult();
        }

        if (ValidateLabels(body.Value!.Labels) is { } labelError)
        {
            return labelError.ToResult();
        }

        var changed = await store.UpdateLabelsAsync(resourceGroupId, SerializeLabels(body.Value.Labels), time.GetUtcNow().ToUnixTimeMilliseconds(), context.RequestAborted);
        return changed
            ? TypedResults.Accepted($"{context.Request.PathBase}/v2/admin/resourceGroups/{Uri.EscapeDataString(resourceGroupId)}")
            : NotFound(resourceGroupId).ToResult();
    }

    public static async Task<Results<JsonHttpResult<IdMessage>, ErrorResult>> DeleteAsync(
        string resourceGroupId, HttpContext context, IResourceGroupStore store, DeletionScheduler scheduler)
    {
        if (ValidateId(resourceGroupId, "resourceGroupId") is { } idError)
        {
            return idError.ToResult();
        }

        if (resourceGroupId == StartupTasks.DefaultResourceGroup)
        {
            return ApiError.BadRequest("DefaultResourceGroupNotDeletable", "The resource group 'default' always exists and cannot be deleted; delete its executions instead.").ToResult();
        }

        if (await store.GetVisibleAsync(resourceGroupId, context.RequestAborted) is null)
        {
            return NotFound(resourceGroupId).ToResult();
        }

        var result = await scheduler.ScheduleAsync(ResourceGroupCascade.Kind, resourceGroupId, resourceGroupId, context.User.Actor(), context.RequestAborted);
        if (result is ScheduleResult.Held held)
        {
            return Executions.ExecutionCommands.LegalHold(held, ResourceGroupCascade.Kind, resourceGroupId).ToResult();
        }

        if (result is not ScheduleResult.Scheduled scheduled)
        {
            return NotFound(resourceGroupId).ToResult();
        }

        context.Response.Headers[DeletionJobHeader] = scheduled.JobId;
        return TypedResults.Json(new IdMessage(resourceGroupId, "Resource Group deletion scheduled"), AiApiJson.Default.IdMessage, statusCode: StatusCodes.Status202Accepted);
    }

    private static ApiError NotFound(string id) =>
        ApiError.NotFound("ResourceGroupNotFound", $"Resource group '{id}' does not exist (or is being deleted).");

    private static ApiError? ValidateId(string? id, string field)
    {
        if (string.IsNullOrEmpty(id))
        {
            return ApiError.BadRequest("InvalidResourceGroupId", $"{field} is required.");
        }

        return id.Length is < 3 or > 253 || !ResourceGroupId().IsMatch(id)
            ? ApiError.BadRequest("InvalidResourceGroupId", $"{field} '{Shorten(id)}' is invalid: it must be 3 to 253 characters of letters, digits, '.' and '-', starting and ending with a letter or digit.")
            : null;
    }

    private static ApiError? ValidateLabels(List<ResourceGroupLabel>? labels)
    {
        if (labels is null)
        {
            return null;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < labels.Count; i++)
        {
            var label = labels[i];
            if (label?.Key is not { } key || label.Value is not { } value)
            {
                return ApiError.BadRequest("InvalidLabel", $"labels[{i}] needs both 'key' and 'value'.");
            }

            if (key.Length > 63 || !LabelKey().IsMatch(key))
            {
                return ApiError.BadRequest("InvalidLabel", $"labels[{i}].key '{Shorten(key)}' is invalid: it must start with 'ext.ai.sap.com/' followed by a name of letters, digits, '-', '_' and '.', at most 63 characters in all.");
            }

            if (value.Length > 5000)
            {
                return ApiError.BadRequest("InvalidLabel", $"labels[{i}].value is {value.Length} characters long; the limit is 5000.");
            }

            if (!seen.Add(key))
            {
                return ApiError.BadRequest("InvalidLabel", $"labels[{i}].key '{key}' appears more than once; give each key once.");
            }
        }

        return null;
    }

    private static (int? Value, ApiError? Error) NonNegative(IQueryCollection query, string name)
    {
        if (!query.TryGetValue(name, out var raw))
        {
            return (null, null);
        }

        return int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var value)
            ? (value, null)
            : (null, ApiError.BadRequest("InvalidParameter", $"{name} is '{raw}'; it must be a whole number of 0 or more."));
    }

    private static int? MaxPageSize(string prefer)
    {
        foreach (var part in prefer.Split([',', ';'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (part.StartsWith("maxpagesize=", StringComparison.OrdinalIgnoreCase)
                && int.TryParse(part["maxpagesize=".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out var size) && size > 0)
            {
                return size;
            }
        }

        return null;
    }

    private static string NewContinueToken(int offset, TimeProvider time) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{offset}:{time.GetUtcNow().ToUnixTimeMilliseconds()}")))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static bool TryReadContinueToken(string token, TimeProvider time, out int offset)
    {
        offset = 0;
        try
        {
            var padded = token.Replace('-', '+').Replace('_', '/');
            padded += new string('=', (4 - (padded.Length % 4)) % 4);
            var parts = Encoding.UTF8.GetString(Convert.FromBase64String(padded)).Split(':');
            return parts.Length == 2
                && int.TryParse(parts[0], CultureInfo.InvariantCulture, out offset) && offset >= 0
                && long.TryParse(parts[1], CultureInfo.InvariantCulture, out var issued)
                && time.GetUtcNow() - DateTimeOffset.FromUnixTimeMilliseconds(issued) < ContinueTokenLifetime;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private static string QueryWithToken(IQueryCollection query, string token)
    {
        var pairs = query.Where(q => q.Key != "continueToken")
            .SelectMany(q => q.Value.Select(v => $"{Uri.EscapeDataString(q.Key)}={Uri.EscapeDataString(v ?? "")}"))
            .Append($"continueToken={token}");
        return "?" + string.Join('&', pairs);
    }

    private static ResourceGroupDto ToDto(ResourceGroupRow row) => new(
        row.Id,
        row.TenantId,
        row.TenantId,
        DateTimeOffset.FromUnixTimeMilliseconds(row.CreatedAt),
        JsonSerializer.Deserialize(row.Labels, AiApiJson.Default.ListResourceGroupLabel) ?? [],
        row.Status,
        "All onboarding steps are completed.");

    private static string SerializeLabels(List<ResourceGroupLabel>? labels) =>
        JsonSerializer.Serialize(labels ?? [], AiApiJson.Default.ListResourceGroupLabel);

    private static string Shorten(string value) => value.Length <= 80 ? value : value[..80] + "…";

    [GeneratedRegex(@"^[a-zA-Z0-9][a-zA-Z0-9.-]{1,251}[a-zA-Z0-9]$")]
    private static partial Regex ResourceGroupId();

    [GeneratedRegex(@"^ext.ai.sap.com/(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]){1,48}$")]
    private static partial Regex LabelKey();

    [GeneratedRegex(@"^(?<key>[^ =,!]+)(?<op>!?=)(?<value>[^ =,!]+)$")]
    private static partial Regex LabelSelector();
}
