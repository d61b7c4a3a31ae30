using System.Collections.Frozen;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Runledger.Server.Runner;

public sealed record TemplateLabel(string Key, string Value);

public sealed record TemplateParameter(string Name, string Type, string? Default, string? Description);

public sealed record ScenarioTemplate(string Id, string Name, string? Description, IReadOnlyList<TemplateLabel> Labels, DateTimeOffset CreatedAt, DateTimeOffset ModifiedAt);

/// <summary>One executable: what to run, with which parameters. Its command and environment may use <c>{{parameters.NAME}}</c>.</summary>
public sealed record ExecutableTemplate(
    string Id,
    string Name,
    string? Description,
    string ScenarioId,
    string VersionId,
    IReadOnlyList<TemplateLabel> Labels,
    IReadOnlyList<TemplateParameter> Parameters,
    IReadOnlyList<string> Command,
    IReadOnlyDictionary<string, string> Environment,
    string WorkingDirectory,
    string SourceFile,
    DateTimeOffset CreatedAt,
    DateTimeOffset ModifiedAt);

/// <summary>A template file that could not be loaded: file, line and what is wrong.</summary>
public sealed record TemplateError(string File, long Line, string Reason);

public sealed record TemplateSnapshot(
    FrozenDictionary<string, ScenarioTemplate> Scenarios,
    FrozenDictionary<string, ExecutableTemplate> Executables,
    IReadOnlyList<TemplateError> Errors)
{
    public static readonly TemplateSnapshot Empty = new(FrozenDictionary<string, ScenarioTemplate>.Empty, FrozenDictionary<string, ExecutableTemplate>.Empty, []);
}

/// <summary>
/// Scenarios and executables from the workflow template folder: loaded at start and again whenever
/// a file changes. A broken file is logged (file, line, reason) and skipped; the rest stay served.
/// </summary>
public sealed partial class TemplateCatalog : IHostedService, IDisposable
{
    private static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(200);
    private readonly string _directory;
    private readonly ILogger<TemplateCatalog> _logger;
    private readonly TimeProvider _time;
    private readonly object _reloadLock = new();
    private FileSystemWatcher? _watcher;
    private ITimer? _debounce;

    public TemplateCatalog(IOptions<RunnerOptions> options, TimeProvider time, ILogger<TemplateCatalog> logger)
    {
        _directory = Path.GetFullPath(options.Value.TemplatesDir);
        _time = time;
        _logger = logger;
    }

    public TemplateSnapshot Current { get; private set; } = TemplateSnapshot.Empty;

    public string Directory => _directory;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        Reload();
        if (System.IO.Directory.Exists(_directory))
        {
            _watcher = new FileSystemWatcher(_directory) { IncludeSubdirectories = false, NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size };
            _watcher.Changed += (_, _) => ScheduleReload();
            _watcher.Created += (_, _) => ScheduleReload();
            _watcher.Deleted += (_, _) => ScheduleReload();
            _watcher.Renamed += (_, _) => ScheduleReload();
            _watcher.EnableRaisingEvents = true;
        }
        else
        {
            LogNoFolder(_logger, _directory);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _watcher?.Dispose();
        _watcher = null;
        _debounce?.Dispose();
    }

    /// <summary>Reads every template file now and swaps in the new catalog.</summary>
    public TemplateSnapshot Reload()
    {
        lock (_reloadLock)
        {
            var scenarios = new Dictionary<string, ScenarioTemplate>(StringComparer.Ordinal);
            var executables = new Dictionary<string, ExecutableTemplate>(StringComparer.Ordinal);
            var errors = new List<TemplateError>();
            IEnumerable<string> files = System.IO.Directory.Exists(_directory)
                ? System.IO.Directory.EnumerateFiles(_directory).Where(f => f.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".yml", StringComparison.OrdinalIgnoreCase)).Order(StringComparer.Ordinal)
                : Enumerable.Empty<string>();
            foreach (var file in files)
            {
                try
                {
                    var (scenario, executable) = TemplateParser.Parse(file, File.ReadAllText(file), new DateTimeOffset(File.GetLastWriteTimeUtc(file), TimeSpan.Zero));
                    if (executables.TryGetValue(executable.Id, out var other))
                    {
                        throw new TemplateException(1, $"executable id '{executable.Id}' is already defined in {Path.GetFileName(other.SourceFile)}");
                    }

                    if (scenarios.TryGetValue(scenario.Id, out var known) && known.Name != scenario.Name)
                    {
                        throw new TemplateException(1, $"scenario '{scenario.Id}' is named '{known.Name}' in another template; use one name");
                    }

                    scenarios[scenario.Id] = known is null ? scenario : known with { ModifiedAt = Max(known.ModifiedAt, scenario.ModifiedAt) };
                    executables[executable.Id] = executable;
                }
                catch (TemplateException ex)
                {
                    errors.Add(new TemplateError(file, ex.Line, ex.Message));
                    LogBroken(_logger, file, ex.Line, ex.Message);
                }
                catch (IOException ex)
                {
                    errors.Add(new TemplateError(file, 0, ex.Message));
                    LogBroken(_logger, file, 0, ex.Message);
                }
            }

            Current = new TemplateSnapshot(scenarios.ToFrozenDictionary(), executables.ToFrozenDictionary(), errors);
            LogLoaded(_logger, executables.Count, scenarios.Count, errors.Count, _directory);
            return Current;
        }
    }

    private void ScheduleReload()
    {
        _debounce?.Dispose();
        _debounce = _time.CreateTimer(_ => Reload(), null, Debounce, Timeout.InfiniteTimeSpan);
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    [LoggerMessage(Level = LogLevel.Information, Message = "Loaded {Executables} executables in {Scenarios} scenarios from {Directory} ({Errors} broken files)")]
    private static partial void LogLoaded(ILogger logger, int executables, int scenarios, int errors, string directory);

    [LoggerMessage(Level = LogLevel.Error, Message = "Template {File} line {Line}: {Reason}; this file is skipped, the others are served")]
    private static partial void LogBroken(ILogger logger, string file, long line, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Templates folder {Directory} does not exist: no scenarios are served (set Runner:TemplatesDir)")]
    private static partial void LogNoFolder(ILogger logger, string directory);
}

internal sealed class TemplateException(long line, string message) : Exception(message)
{
    public long Line { get; } = line;
}

/// <summary>The template file format (see templates/README.md).</summary>
internal static partial class TemplateParser
{
    public static (ScenarioTemplate Scenario, ExecutableTemplate Executable) Parse(string file, string text, DateTimeOffset modified)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException ex)
        {
            throw new TemplateException(ex.Start.Line, $"not valid YAML: {ex.Message}");
        }

        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new TemplateException(1, "expected one YAML document with 'scenario' and 'executable' sections");
        }

        var scenarioNode = Mapping(root, "scenario", required: true)!;
        var executableNode = Mapping(root, "executable", required: true)!;
        var scenarioId = Id(scenarioNode, "scenario.id");
        var scenario = new ScenarioTemplate(
            scenarioId,
            Text(scenarioNode, "name", "scenario.name", required: true, maxLength: 256)!,
            Text(scenarioNode, "description", "scenario.description", maxLength: 5000),
            Labels(scenarioNode, "scenario.labels", ScenarioLabelKey()),
            modified,
            modified);

        var parameters = new List<TemplateParameter>();
        if (Child(executableNode, "parameters") is { } parametersNode)
        {
            if (parametersNode is not YamlSequenceNode sequence)
            {
                throw new TemplateException(parametersNode.Start.Line, "executable.parameters must be a list");
            }

            foreach (var item in sequence)
            {
                if (item is not YamlMappingNode parameter)
                {
                    throw new TemplateException(item.Start.Line, "each parameter must be a mapping with 'name', 'type', 'default'");
                }

                var name = Text(parameter, "name", "parameter name", required: true, maxLength: 256)!;
                if (!ParameterName().IsMatch(name))
                {
                    throw new TemplateException(parameter.Start.Line, $"parameter name '{name}' may use letters, digits, '_', '-' and '.' only");
                }

                var type = Text(parameter, "type", "parameter type") ?? "string";
                if (type != "string")
                {
                    throw new TemplateException(parameter.Start.Line, $"parameter '{name}' has type '{type}'; the AI API knows only 'string'");
                }

                if (parameters.Any(p => p.Name == name))
                {
                    throw new TemplateException(parameter.Start.Line, $"parameter '{name}' is declared twice");
                }

                parameters.Add(new TemplateParameter(name, type, Text(parameter, "default", "parameter default", maxLength: 5000), Text(parameter, "description", "parameter description", maxLength: 5000)));
            }
        }

        var commandNode = Child(executableNode, "command") as YamlSequenceNode
            ?? throw new TemplateException(executableNode.Start.Line, "executable.command is required: the argv list to run, e.g. [sh, train.sh, \"{{parameters.epochs}}\"]");
        var command = commandNode.Select(n => n is YamlScalarNode s && s.Value is { Length: > 0 } v ? v : throw new TemplateException(n.Start.Line, "each command item must be a non-empty string")).ToList();
        if (command.Count == 0)
        {
            throw new TemplateException(commandNode.Start.Line, "executable.command must not be empty");
        }

        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        if (Child(executableNode, "env") is { } envNode)
        {
            if (envNode is not YamlMappingNode envMap)
            {
                throw new TemplateException(envNode.Start.Line, "executable.env must be a mapping of NAME: value");
            }

            foreach (var (key, value) in envMap)
            {
                environment[((YamlScalarNode)key).Value!] = (value as YamlScalarNode)?.Value ?? throw new TemplateException(value.Start.Line, "env values must be strings");
            }
        }

        var declared = parameters.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var usage in command.Concat(environment.Values))
        {
            foreach (Match match in Placeholder().Matches(usage))
            {
                if (!declared.Contains(match.Groups[1].Value))
                {
                    throw new TemplateException(commandNode.Start.Line, $"'{{{{parameters.{match.Groups[1].Value}}}}}' is used but no parameter '{match.Groups[1].Value}' is declared");
                }
            }
        }

        var executable = new ExecutableTemplate(
            Id(executableNode, "executable.id"),
            Text(executableNode, "name", "executable.name", required: true, maxLength: 256)!,
            Text(executableNode, "description", "executable.description", maxLength: 5000),
            scenarioId,
            Text(executableNode, "version", "executable.version", maxLength: 64) ?? "1.0",
            Labels(executableNode, "executable.labels", LabelKey()),
            parameters,
            command,
            environment,
            Path.GetDirectoryName(Path.GetFullPath(file))!,
            Path.GetFullPath(file),
            modified,
            modified);
        return (scenario, executable);
    }

    /// <summary>Replaces <c>{{parameters.NAME}}</c> with the bound value (or the parameter's default).</summary>
    public static string Substitute(string value, IReadOnlyDictionary<string, string> parameters) =>
        Placeholder().Replace(value, m => parameters.TryGetValue(m.Groups[1].Value, out var bound) ? bound : "");

    private static YamlNode? Child(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var child) ? child : null;

    private static YamlMappingNode? Mapping(YamlMappingNode node, string key, bool required)
    {
        var child = Child(node, key);
        return child switch
        {
            YamlMappingNode mapping => mapping,
            null when !required => null,
            null => throw new TemplateException(node.Start.Line, $"'{key}' section is missing"),
            _ => throw new TemplateException(child.Start.Line, $"'{key}' must be a mapping"),
        };
    }

    private static string? Text(YamlMappingNode node, string key, string what, bool required = false, int maxLength = 256)
    {
        var child = Child(node, key);
        if (child is null)
        {
            return required ? throw new TemplateException(node.Start.Line, $"{what} is required") : null;
        }

        if (child is not YamlScalarNode { Value: { } value })
        {
            throw new TemplateException(child.Start.Line, $"{what} must be a string");
        }

        if (required && value.Length == 0)
        {
            throw new TemplateException(child.Start.Line, $"{what} must not be empty");
        }

        return value.Length > maxLength ? throw new TemplateException(child.Start.Line, $"{what} is longer than {maxLength} characters") : value;
    }

    private static string Id(YamlMappingNode node, string what)
    {
        var id = Text(node, "id", what, required: true, maxLength: 64)!;
        return IdPattern().IsMatch(id)
            ? id
            : throw new TemplateException(Child(node, "id")!.Start.Line, $"{what} '{id}' must be 4 to 64 letters, digits, '_', '.' or '-'");
    }

    private static List<TemplateLabel> Labels(YamlMappingNode node, string what, Regex keyPattern)
    {
        if (Child(node, "labels") is not { } labelsNode)
        {
            return [];
        }

        if (labelsNode is not YamlMappingNode labels)
        {
            throw new TemplateException(labelsNode.Start.Line, $"{what} must be a mapping of key: value");
        }

        var list = new List<TemplateLabel>();
        foreach (var (keyNode, valueNode) in labels)
        {
            var key = ((YamlScalarNode)keyNode).Value ?? "";
            if (!keyPattern.IsMatch(key) || key.Length > 256)
            {
                throw new TemplateException(keyNode.Start.Line, $"{what} key '{key}' does not match {keyPattern}");
            }

            list.Add(new TemplateLabel(key, (valueNode as YamlScalarNode)?.Value ?? ""));
        }

        return list;
    }

    [GeneratedRegex(@"^[\w.-]{4,64}$")]
    private static partial Regex IdPattern();

    [GeneratedRegex(@"^[\w.-]+$")]
    private static partial Regex ParameterName();

    [GeneratedRegex(@"^(scenarios|ext)\.ai\.sap\.com\/[\w\.-]+$")]
    private static partial Regex ScenarioLabelKey();

    [GeneratedRegex(@"^ext\.ai\.sap\.com\/[\w\.-]+$")]
    private static partial Regex LabelKey();

    [GeneratedRegex(@"\{\{\s*parameters\.([\w.-]+)\s*\}\}")]
    private static partial Regex Placeholder();
}
