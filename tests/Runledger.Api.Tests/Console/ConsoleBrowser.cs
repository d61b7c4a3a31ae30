using System.Net;
using Dapper;
using Microsoft.Playwright;
using Runledger.Api.Tests.Support;
using Runledger.Storage;
using Runledger.Storage.Metrics;

// Not "Console": that namespace would hide System.Console for the rest of the test assembly.
namespace Runledger.Api.Tests.WebConsole;

/// <summary>
/// A started server (real HTTP, real store) and Debian's headless Chromium driven by Playwright for
/// .NET (never a browser Playwright downloads itself). test.sh installs the browser; without it these
/// tests are filtered out there (and with CI=true the run fails instead).
/// </summary>
public abstract class ConsoleBrowser(Provider provider) : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private IPlaywright? _playwright;
    private IBrowser? _browser;
    private TestServer? _server;

    public TestServer Server => _server ?? throw new InvalidOperationException("The server has not started.");

    public IBrowser Browser => _browser ?? throw new InvalidOperationException("The browser has not started.");

    public Provider Provider => provider;

    public async Task InitializeAsync()
    {
        Assert.True(File.Exists(ChromiumPath), $"{ChromiumPath} is missing: install Debian's chromium package (apt-get install -y chromium); test.sh does this when it runs as root.");
        _server = await TestServer.StartAsync(provider, new Dictionary<string, string?>
        {
            ["Runner:Enabled"] = "false",
            ["Retention:Enabled"] = "false",
            ["Lifecycle:Grace:resource_group"] = "1.00:00:00",

            // Set while editing the console's assets, to see changes without a rebuild.
            ["Console:AssetsDir"] = Environment.GetEnvironmentVariable("RUNLEDGER_CONSOLE_ASSETS_DIR"),
        });
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Timeout = 60_000,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        Assertions.SetDefaultExpectTimeout(20_000);
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }

        _playwright?.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    /// <summary>A fresh browser profile (no cookies) at 1280×800 in the light theme unless told; page errors are collected so a test can assert there were none.</summary>
    public async Task<(IBrowserContext Context, IPage Page, List<string> Errors)> NewPageAsync(int width = 1280, int height = 800, ColorScheme colorScheme = ColorScheme.Light)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = Server.BaseAddress.ToString(),
            ViewportSize = new ViewportSize { Width = width, Height = height },
            ColorScheme = colorScheme,
        });
        context.SetDefaultTimeout(30_000);
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.PageError += (_, error) => errors.Add(error);
        page.Console += (_, message) =>
        {
            // A refused API call logs a failed resource load; the page shows it, so it is not a script error.
            if (message.Type == "error" && !message.Text.Contains("status of 4", StringComparison.Ordinal))
            {
                errors.Add(message.Text);
            }
        };
        return (context, page, errors);
    }

    public static async Task SignInAsync(IPage page, string credential)
    {
        await page.GotoAsync("/ui/");
        await page.Locator("#credential").FillAsync(credential);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(page.Locator("#signout")).ToBeVisibleAsync();
    }

    /// <summary>Saves a PNG under TestResults/console-screenshots/ (gitignored); returns its path.</summary>
    public async Task<string> ScreenshotAsync(IPage page, string name, bool fullPage = true)
    {
        var dir = Path.Combine(RepoRoot(), "TestResults", "console-screenshots");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, $"{provider.ToString().ToLowerInvariant()}-{name}.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = fullPage });

        // The README's two pictures are refreshed on request only, so a test run leaves the tree clean.
        if (provider == Provider.Sqlite && Environment.GetEnvironmentVariable("RUNLEDGER_CONSOLE_DOCS") == "1" && name is "execution" or "delete-preview")
        {
            File.Copy(path, Path.Combine(RepoRoot(), "docs", $"console-{name}.png"), overwrite: true);
        }

        return path;
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Runledger.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Runledger.slnx not found above the test binaries.");
    }

    public Task<string> NewResourceGroupAsync() => ConsoleSeed.ResourceGroupAsync(Server);

    public Task SeedRunsAsync(string rg) => ConsoleSeed.RunsAsync(Server, rg);
}

public sealed class SqliteConsoleBrowser() : ConsoleBrowser(Provider.Sqlite);

public sealed class PostgresConsoleBrowser() : ConsoleBrowser(Provider.Postgres);

/// <summary>Seeding shared by the browser tests and the console API tests (real stores, set-based SQL).</summary>
public static class ConsoleSeed
{
    public static async Task<string> ResourceGroupAsync(TestServer server)
    {
        var id = "rg-" + Guid.NewGuid().ToString("N")[..10];
        await (await server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json("{\"resourceGroupId\":\"" + id + "\"}"))).ExpectAsync(HttpStatusCode.Accepted);
        return id;
    }

    /// <summary>
    /// 60 completed executions and one pending, in one configuration; <c>{rg}-ex-1</c> has 1,500 log
    /// lines and (unless <paramref name="metrics"/> is false) two metrics of 5,000 steps each, tags and
    /// custom info; <c>{rg}-ex-2</c> the same metrics with 800 steps.
    /// </summary>
    public static async Task RunsAsync(TestServer server, string rg, bool metrics = true)
    {
        var database = server.Service<IDatabase>();
        var now = TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds();
        await using (var connection = await database.OpenAsync(CancellationToken.None))
        await using (var transaction = await database.BeginWriteAsync(connection, CancellationToken.None))
        {
            var args = new { rg, n = 60L, prefix = rg + "-", now };
            const string series = "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < @n) ";
            await connection.ExecuteAsync(
                "INSERT INTO configurations (id, resource_group, name, scenario_id, executable_id, parameter_bindings, input_artifact_bindings, created_at) " +
                "VALUES (@prefix || 'cfg', @rg, 'train-small', 'image-classifier', 'trainer', '[{\"key\":\"learning_rate\",\"value\":\"0.01\"},{\"key\":\"epochs\",\"value\":\"20\"}]', '[]', @now)",
                args, transaction);
            await connection.ExecuteAsync(series +
                "INSERT INTO executions (id, resource_group, configuration_id, configuration_name, scenario_id, executable_id, target_status, status, created_at, modified_at, start_time, completion_time) " +
                "SELECT @prefix || 'ex-' || i, @rg, @prefix || 'cfg', 'train-small', 'image-classifier', 'trainer', 'COMPLETED', 'COMPLETED', @now - i * 60000, @now - i * 60000, @now - i * 60000 + 1000, @now - i * 60000 + 1000 + i * 7000 FROM s",
                args, transaction);
            await connection.ExecuteAsync(
                "INSERT INTO executions (id, resource_group, configuration_id, configuration_name, scenario_id, executable_id, target_status, status, created_at, modified_at) " +
                "VALUES (@prefix || 'pending', @rg, @prefix || 'cfg', 'train-small', 'image-classifier', 'trainer', 'COMPLETED', 'PENDING', @now, @now)",
                args, transaction);
            await connection.ExecuteAsync("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 1500) " +
                "INSERT INTO execution_logs (resource_group, execution_id, seq, ts, stream, msg) SELECT @rg, @prefix || 'ex-1', i, @now - 60000 + i, 'stdout', 'epoch ' || i || ' loss ok' FROM s",
                args, transaction);
            await transaction.CommitAsync();
        }

        if (!metrics)
        {
            return;
        }

        var store = server.Service<IMetricStore>();
        foreach (var (execution, steps) in new[] { (rg + "-ex-1", 5000), (rg + "-ex-2", 800) })
        {
            var points = new List<MetricPointInput>();
            for (var step = 0; step < steps; step++)
            {
                points.Add(new MetricPointInput("loss", 2.5 * Math.Exp(-step / 1200.0) + 0.05 * Math.Sin(step / 13.0), now + step, step, null));
                points.Add(new MetricPointInput("accuracy", 0.97 - 0.8 * Math.Exp(-step / 900.0), now + step, step, null));
            }

            MetricAttributeRow[] attributes = execution.EndsWith("-ex-1", StringComparison.Ordinal)
                ? [new("", MetricAttributeKinds.Tag, "dataset", "cifar-10"), new("", MetricAttributeKinds.CustomInfo, "gpu", "none (cpu run)")]
                : [];
            Assert.True(await store.AppendAsync(rg, execution, points, attributes, now, CancellationToken.None));
        }
    }

    /// <summary>
    /// A second scenario in the group: configuration <c>{rg}-cfg-gen</c> ("generate", scenario
    /// text-generator) with <c>{rg}-gen-1</c> (RUNNING, submitted and started), <c>{rg}-gen-2</c>
    /// (DEAD before it started, last changed 9 s after creation) and <c>{rg}-gen-3</c> (COMPLETED), from 2026-01-01.
    /// </summary>
    public static async Task OtherScenarioAsync(TestServer server, string rg)
    {
        var database = server.Service<IDatabase>();
        const long t = 1_767_225_600_000; // 2026-01-01T00:00:00Z
        await using var connection = await database.OpenAsync(CancellationToken.None);
        await using var transaction = await database.BeginWriteAsync(connection, CancellationToken.None);
        var args = new { rg, cfg = rg + "-cfg-gen", prefix = rg + "-gen-", t, later = TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds() + 60_000 };
        await connection.ExecuteAsync(
            "INSERT INTO configurations (id, resource_group, name, scenario_id, executable_id, parameter_bindings, input_artifact_bindings, created_at) " +
            "VALUES (@cfg, @rg, 'generate', 'text-generator', 'generator', '[]', '[]', @later)",
            args, transaction);
        await connection.ExecuteAsync(
            "INSERT INTO executions (id, resource_group, configuration_id, configuration_name, scenario_id, executable_id, target_status, status, created_at, modified_at, submission_time, start_time, completion_time) VALUES " +
            "(@prefix || '1', @rg, @cfg, 'generate', 'text-generator', 'generator', 'COMPLETED', 'RUNNING', @t + 60000, @t + 62000, @t + 61000, @t + 62000, NULL), " +
            "(@prefix || '2', @rg, @cfg, 'generate', 'text-generator', 'generator', 'COMPLETED', 'DEAD', @t, @t + 9000, @t + 1000, NULL, NULL), " +
            "(@prefix || '3', @rg, @cfg, 'generate', 'text-generator', 'generator', 'COMPLETED', 'COMPLETED', @t - 60000, @t - 50000, @t - 59000, @t - 58000, @t - 50000)",
            args, transaction);
        await transaction.CommitAsync();
    }
}
