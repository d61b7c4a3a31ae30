using System.Data.Common;

namespace Runledger.Storage;

/// <summary>For the few hot statements that bind their values directly instead of through the mapper.</summary>
public static class DbCommandExtensions
{
    /// <summary>Adds a named parameter (<c>@name</c> in the command text) with this value.</summary>
    public static void AddParameter(this DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }

    /// <summary>The same for one statement of a batch.</summary>
    public static void AddParameter(this DbBatchCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }
}
