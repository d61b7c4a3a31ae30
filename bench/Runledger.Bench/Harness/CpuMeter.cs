using System.Globalization;

namespace Runledger.Bench.Harness;

/// <summary>
/// How busy the rest of the machine was while a scenario ran: CPU time of the whole machine
/// (/proc/stat) minus that of the bench and its reaped children, the servers (/proc/self/stat).
/// On a shared two-core box this says whether a figure was measured on a quiet machine.
/// </summary>
internal sealed class CpuMeter
{
    private static readonly int[] BusyFields = [1, 2, 3, 6, 7, 8];
    private static readonly int[] TimeFields = [11, 12, 13, 14];
    private readonly long _machineBusy;
    private readonly long _ours;
    private readonly long _wallTicks;

    private CpuMeter(long machineBusy, long ours, long wallTicks)
    {
        _machineBusy = machineBusy;
        _ours = ours;
        _wallTicks = wallTicks;
    }

    public static CpuMeter Start() => new(MachineBusyTicks(), OurTicks(), System.Diagnostics.Stopwatch.GetTimestamp());

    /// <summary>Mean number of cores other processes kept busy since <see cref="Start"/>; null where /proc is missing.</summary>
    public double? OtherCores()
    {
        var machine = MachineBusyTicks() - _machineBusy;
        var ours = OurTicks() - _ours;
        var seconds = System.Diagnostics.Stopwatch.GetElapsedTime(_wallTicks).TotalSeconds;
        // Both files count in USER_HZ, which is 100 on Linux.
        return machine < 0 || seconds <= 0 ? null : Math.Max(0, (machine - ours) / 100.0 / seconds);
    }

    /// <summary>user + nice + system + irq + softirq + steal of the "cpu" line.</summary>
    private static long MachineBusyTicks()
    {
        try
        {
            var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return BusyFields.Sum(i => long.Parse(fields[i], CultureInfo.InvariantCulture));
        }
        catch (IOException)
        {
            return -1;
        }
    }

    /// <summary>utime + stime + cutime + cstime of this process: the bench plus every child it has reaped.</summary>
    private static long OurTicks()
    {
        try
        {
            var stat = File.ReadAllText("/proc/self/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return TimeFields.Sum(i => long.Parse(fields[i], CultureInfo.InvariantCulture));
        }
        catch (IOException)
        {
            return 0;
        }
    }
}
