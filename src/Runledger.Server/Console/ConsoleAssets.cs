using System.Collections.Frozen;
using System.Security.Cryptography;

namespace Runledger.Server.WebConsole;

/// <summary>
/// The console's HTML, CSS and JavaScript modules, embedded in the server assembly (see the csproj):
/// nothing is fetched from anywhere else, so the console works offline and a single published
/// binary carries it. Loaded once; served with an ETag so browsers revalidate cheaply.
/// </summary>
public sealed class ConsoleAssets
{
    /// <summary>Optional: serve the assets from this folder instead (read on every request), to edit them without rebuilding.</summary>
    public const string AssetsDirKey = "Console:AssetsDir";

    private const string Prefix = "console/";

    private static readonly FrozenDictionary<string, string> ContentTypes = new Dictionary<string, string>
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".svg"] = "image/svg+xml",
        [".png"] = "image/png",
    }.ToFrozenDictionary();

    // Everything the page loads is our own: no inline script, no third-party origin.
    private const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

    private readonly FrozenDictionary<string, Asset> _assets;

    private readonly string? _assetsDir;

    public ConsoleAssets(IConfiguration configuration)
    {
        _assetsDir = configuration[AssetsDirKey] is { Length: > 0 } dir ? Path.GetFullPath(dir) : null;
        var assembly = typeof(ConsoleAssets).Assembly;
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            var bytes = buffer.ToArray();
            var path = name[Prefix.Length..].Replace('\\', '/');
            var type = ContentTypes.GetValueOrDefault(Path.GetExtension(path), "application/octet-stream");
            assets[path] = new Asset(bytes, type, $"\"{Convert.ToHexString(SHA256.HashData(bytes), 0, 8)}\"");
        }

        _assets = assets.ToFrozenDictionary(StringComparer.Ordinal);
    }

    public int Count => _assets.Count;

    public IResult Serve(HttpContext context, string? path)
    {
        // The catch-all also matches "/ui": send it to "/ui/" so the page has one address.
        if (!context.Request.Path.Value!.EndsWith('/') && string.IsNullOrEmpty(path))
        {
            return TypedResults.Redirect("/ui/");
        }

        if (Find(string.IsNullOrEmpty(path) ? "index.html" : path) is not { } asset)
        {
            return TypedResults.NotFound();
        }

        var headers = context.Response.Headers;
        headers.CacheControl = "no-cache";
        headers.ETag = asset.ETag;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "same-origin";
        if (context.Request.Headers.IfNoneMatch == asset.ETag)
        {
            return TypedResults.StatusCode(StatusCodes.Status304NotModified);
        }

        return TypedResults.Bytes(asset.Bytes, asset.ContentType);
    }

    private Asset? Find(string path)
    {
        if (_assetsDir is null)
        {
            return _assets.GetValueOrDefault(path);
        }

        var file = Path.GetFullPath(Path.Combine(_assetsDir, path));
        if (!file.StartsWith(_assetsDir + Path.DirectorySeparatorChar, StringComparison.Ordinal) || !File.Exists(file))
        {
            return null;
        }

        var bytes = File.ReadAllBytes(file);
        return new Asset(bytes, ContentTypes.GetValueOrDefault(Path.GetExtension(file), "application/octet-stream"), $"\"{Convert.ToHexString(SHA256.HashData(bytes), 0, 8)}\"");
    }

    private sealed record Asset(byte[] Bytes, string ContentType, string ETag);
}

public static class ConsoleAssetEndpoints
{
    public static IEndpointRouteBuilder MapConsoleAssets(this IEndpointRouteBuilder app)
    {
        app.MapGet("/ui/{**path}", (string? path, HttpContext context, ConsoleAssets assets) => assets.Serve(context, path));
        return app;
    }
}
