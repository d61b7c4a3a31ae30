using System.Runtime.InteropServices;
using Nito.AsyncEx;

namespace Runledger.Server.Hosting;

/// <summary>How much of the CPU a background loop's thread may take from requests.</summary>
public enum BackgroundPriority
{
    /// <summary>The same as request threads.</summary>
    Normal,

    /// <summary>
    /// Only when nothing else wants the core (Linux <c>SCHED_IDLE</c>; elsewhere the lowest thread
    /// priority). A request's thread that wakes takes the core from it at once, instead of waiting
    /// out the time slice that a running thread keeps, even at nice 19.
    /// </summary>
    Idle,
}

/// <summary>
/// Runs a background service's loop on a thread of its own. Every await inside the loop comes back
/// to that thread (a single-threaded <see cref="AsyncContext"/>), so the loop's synchronous work —
/// SQLite statements block the calling thread, a WAL checkpoint for tens of milliseconds — never
/// holds one of the few pool threads (two on two cores) that requests are waiting for.
/// </summary>
/// <remarks>
/// Measured on 2 cores (bench <c>reads-during-cascade</c>): with the deletion worker on pool threads
/// at normal priority, reads' p99 during a 10,000,000-row cascade was 3.5–4.3× idle, and the load
/// generator's own sends were 4 ms late (p99, against 1 ms idle): a thread that has the core keeps
/// it for its slice (EEVDF protects a running task's slice, a nice-19 one's too). On a thread at
/// <see cref="BackgroundPriority.Idle"/> the same cascade left reads at 2.2–2.5× idle.
/// </remarks>
public static class BackgroundThread
{
    private const int SchedIdle = 5;

    /// <summary>Runs <paramref name="loop"/> to its end on a thread named <paramref name="name"/> at <paramref name="priority"/>; completes as the loop does.</summary>
    public static async Task RunAsync(string name, BackgroundPriority priority, Func<Task> loop)
    {
        using var thread = new AsyncContextThread();
        try
        {
            await thread.Factory.Run(() => Enter(name, priority));
            await thread.Factory.Run(loop);
        }
        finally
        {
            await thread.JoinAsync();
        }
    }

    /// <summary>
    /// Names the calling thread (the OS sees the first 15 characters) and, for
    /// <see cref="BackgroundPriority.Idle"/>, lowers it; false when the OS refused (never throws:
    /// the loop then runs at normal priority).
    /// </summary>
    public static bool Enter(string name, BackgroundPriority priority)
    {
        Thread.CurrentThread.Name = name;
        if (priority == BackgroundPriority.Normal)
        {
            return true;
        }

        if (OperatingSystem.IsLinux())
        {
            // A thread may always lower itself; raising it back would need CAP_SYS_NICE, so the
            // thread stays lowered for its life and is used for nothing else.
            var parameters = 0;
            return sched_setscheduler(0, SchedIdle, ref parameters) == 0;
        }

        try
        {
            Thread.CurrentThread.Priority = ThreadPriority.Lowest;
            return true;
        }
        catch (PlatformNotSupportedException)
        {
            return false;
        }
    }

    /// <summary>Linux: the OS id of the calling thread (what <c>/proc/self/task</c> lists); elsewhere null.</summary>
    public static int? CurrentOsThreadId() => OperatingSystem.IsLinux() ? gettid() : null;

    /// <summary>Linux: the scheduling policy of <paramref name="tid"/> (0: the calling thread), e.g. 5 for SCHED_IDLE.</summary>
    public static int PolicyOf(int tid) => OperatingSystem.IsLinux() ? sched_getscheduler(tid) : -1;

    // pid 0 is the calling thread: on Linux the policy belongs to a thread, not the process.
    [DllImport("libc", SetLastError = true)]
    private static extern int sched_setscheduler(int pid, int policy, ref int param);

    [DllImport("libc", SetLastError = true)]
    private static extern int sched_getscheduler(int pid);

    [DllImport("libc")]
    private static extern int gettid();
}
