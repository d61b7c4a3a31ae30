using System.Data.Common;

namespace Runledger.Storage;

/// <summary>For the few hot reads that go through a reader directly instead of the mapper.</summary>
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
}
