using System.Globalization;
using System.Text.Json.Nodes;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Runledger.Cli.Commands;

/// <summary>Table helpers: cell text is never read as Spectre markup (ids and messages may hold brackets).</summary>
internal static class Display
{
    public static Table Table(params string[] columns)
    {
        var table = new Table().Border(TableBorder.Simple);
        foreach (var column in columns)
        {
            table.AddColumn(new TableColumn(new Text(column)));
        }

        return table;
    }

    public static void Row(Table table, params string?[] cells) =>
        table.AddRow(cells.Select(c => (IRenderable)new Text(c ?? "-")).ToArray());

    /// <summary>Two columns, label and value, for one object.</summary>
    public static Grid Fields(params (string Label, string? Value)[] fields)
    {
        var grid = new Grid().AddColumn().AddColumn();
        foreach (var (label, value) in fields)
        {
            grid.AddRow(new Text(label + ":"), new Text(value ?? "-"));
        }

        return grid;
    }

    /// <summary>A server time (ISO 8601) as UTC to the second, or "-".</summary>
    public static string? Time(JsonNode? node) =>
        node is null ? null
        : DateTimeOffset.TryParse((string?)node, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time)
            ? time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture)
            : (string?)node;

    public static string Number(JsonNode? node) => node is null ? "-" : ((long)node).ToString("N0", CultureInfo.InvariantCulture);

    public static string Text(JsonNode? node) => node?.ToString() ?? "-";
}
