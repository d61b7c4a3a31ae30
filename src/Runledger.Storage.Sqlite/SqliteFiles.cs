using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;

namespace Runledger.Storage.Sqlite;

/// <summary>
/// Syncs a connection's database file and write-ahead log to disk through SQLite's own open files
/// (<c>SQLITE_FCNTL_FILE_POINTER</c> and <c>SQLITE_FCNTL_JOURNAL_POINTER</c>, then each file's
/// <c>xSync</c>), never through a descriptor of our own: closing any other descriptor of the
/// database file would drop the POSIX locks that this process's connections hold on it.
/// </summary>
public static class SqliteFiles
{
    private const int FileControlFilePointer = 7;
    private const int FileControlJournalPointer = 28;
    private const int SqliteOk = 0;
    private const int SyncNormal = 0x2;

    /// <summary><c>sqlite3_io_methods</c>: iVersion (padded to a pointer), xClose, xRead, xWrite, xTruncate, xSync.</summary>
    private const int XSyncSlot = 5;

    private static readonly byte[] MainSchema = "main\0"u8.ToArray();

    /// <summary>
    /// Syncs the database file and, when one is open, its write-ahead log. False when the connection
    /// has no database file (in memory) or SQLite reported an error; never throws for either.
    /// </summary>
    public static bool Sync(SqliteConnection connection)
    {
        var handle = connection.Handle ?? throw new InvalidOperationException("The connection is not open.");
        var added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            var db = handle.DangerousGetHandle();
            if (FileOf(db, FileControlFilePointer) is not { } database || !SyncFile(database))
            {
                return false;
            }

            // No log open (e.g. before the connection's first read): nothing more to sync.
            return FileOf(db, FileControlJournalPointer) is not { } log || SyncFile(log);
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>The open <c>sqlite3_file</c> that <paramref name="fileControl"/> points at, or null when there is none or it is not open (no methods).</summary>
    private static IntPtr? FileOf(IntPtr db, int fileControl) =>
        sqlite3_file_control(db, MainSchema, fileControl, out var file) == SqliteOk && file != IntPtr.Zero && Marshal.ReadIntPtr(file) != IntPtr.Zero
            ? file
            : null;

    /// <summary>Calls <c>file->pMethods->xSync(file, SQLITE_SYNC_NORMAL)</c>.</summary>
    private static bool SyncFile(IntPtr file)
    {
        var xSync = Marshal.GetDelegateForFunctionPointer<XSync>(Marshal.ReadIntPtr(Marshal.ReadIntPtr(file), XSyncSlot * IntPtr.Size));
        return xSync(file, SyncNormal) == SqliteOk;
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int XSync(IntPtr file, int flags);

    // The library Microsoft.Data.Sqlite loads (SQLitePCLRaw's bundle): the same SQLite, the same open files.
    [DllImport("e_sqlite3", CallingConvention = CallingConvention.Cdecl)]
    private static extern int sqlite3_file_control(IntPtr db, byte[] schema, int op, out IntPtr value);
}
