using System.Globalization;
using System.Text.RegularExpressions;
using Runledger.Server.Hosting;
using Runledger.Storage.ResourceGroups;

namespace Runledger.Server.AiApi;

/// <summary>Query-parameter rules shared by the <c>/v2/lm</c> resources (spec: Aitop, Aiskip, AiexecutableIdsList …).</summary>
public static partial class AiApiQuery
{
    public const int DefaultTop = 10_000;
    public const int MaxTop = 100_000;

    public static (int Top, int Skip, ApiError? Error) Paging(IQueryCollection query)
    {
        var top = DefaultTop;
        var skip = 0;
        if (query.TryGetValue("$top", out var rawTop) && (!int.TryParse(rawTop, NumberStyles.None, CultureInfo.InvariantCulture, out top) || top > MaxTop))
        {
            return (0, 0, Invalid($"$top is '{rawTop}'; it must be a whole number from 0 to {MaxTop}."));
        }

        if (query.TryGetValue("$skip", out var rawSkip) && !int.TryParse(rawSkip, NumberStyles.None, CultureInfo.InvariantCulture, out skip))
        {
            return (0, 0, Invalid($"$skip is '{rawSkip}'; it must be a whole number of 0 or more."));
        }

        return (top, skip, null);
    }

    /// <summary>An optional id parameter (<c>^[\w.-]{4,64}$</c>).</summary>
    public static (string? Value, ApiError? Error) OptionalId(IQueryCollection query, string name)
    {
        if (!query.TryGetValue(name, out var raw) || string.IsNullOrEmpty(raw))
        {
            return (null, null);
        }

        return IsId(raw!) ? (raw.ToString(), null) : (null, Invalid($"{name} '{raw}' is invalid: use 4 to 64 letters, digits, '_', '.' or '-'."));
    }

    /// <summary><c>executableIds</c>: comma-separated (as the SDK sends it) or repeated; at most 1000.</summary>
    public static (IReadOnlyList<string>? Ids, ApiError? Error) ExecutableIds(IQueryCollection query)
    {
        if (!query.TryGetValue("executableIds", out var raw))
        {
            return (null, null);
        }

        var ids = raw.SelectMany(v => (v ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        if (ids.Count > 1000)
        {
            return (null, Invalid($"executableIds has {ids.Count} items; the limit is 1000."));
        }

        var bad = ids.FirstOrDefault(id => !IsId(id));
        return bad is null ? (ids, null) : (null, Invalid($"executableIds item '{bad}' is invalid: use 4 to 64 letters, digits, '_', '.' or '-'."));
    }

    public static bool IsId(string value) => IdPattern().IsMatch(value);

    public static ApiError Invalid(string message) => ApiError.BadRequest("InvalidParameter", message);

    /// <summary>Formats a stored time the way the AI API does: RFC 3339, UTC, milliseconds.</summary>
    public static string Time(long unixMilliseconds) =>
        DateTimeOffset.FromUnixTimeMilliseconds(unixMilliseconds).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    public static string? Time(long? unixMilliseconds) => unixMilliseconds is { } value ? Time(value) : null;

    [GeneratedRegex(@"^[\w.-]{4,64}$")]
    private static partial Regex IdPattern();
}

/// <summary>The resource group a <c>/v2/lm</c> request is scoped to, from the <c>AI-Resource-Group</c> header.</summary>
public sealed record ResourceGroupScope(string Id)
{
    public const string Header = "AI-Resource-Group";

    public static ResourceGroupScope Of(HttpContext context) =>
        context.Features.Get<ResourceGroupScope>() ?? throw new InvalidOperationException("The resource-group filter did not run for this endpoint.");
}

/// <summary>
/// Requires <c>AI-Resource-Group</c> on tenant-scoped routes and checks the group exists (and is
/// not being deleted): nothing of one group is visible or changeable from another.
/// </summary>
internal sealed class ResourceGroupFilter(IResourceGroupStore groups, bool required = true) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var header = http.Request.Headers[ResourceGroupScope.Header].ToString();
        if (header.Length == 0)
        {
            if (required)
            {
                return (ApiError.BadRequest("MissingResourceGroup", $"The {ResourceGroupScope.Header} header is required; name the resource group to work in (e.g. 'default').") with { Header = ResourceGroupScope.Header }).ToResult();
            }

            header = "default";
        }

        if (!await groups.IsVisibleAsync(header, http.RequestAborted))
        {
            return (ApiError.NotFound("ResourceGroupNotFound", $"Resource group '{header}' (from the {ResourceGroupScope.Header} header) does not exist.") with { Header = ResourceGroupScope.Header }).ToResult();
        }

        http.Features.Set(new ResourceGroupScope(header));
        return await next(context);
    }
}
