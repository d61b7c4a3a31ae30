using System.Buffers;
using System.Diagnostics;
using System.Net;
using Runledger.Bench.Report;

namespace Runledger.Bench.Harness;

/// <summary>One kind of request of an open-model run; <see cref="Build"/> makes the n-th one (a fresh message per send).</summary>
internal sealed record OpenLoadRequest(string Kind, Func<long, HttpRequestMessage> Build, HttpStatusCode Expected = HttpStatusCode.OK);

/// <summary>
/// An open-model (fixed-rate) load generator, as wrk2 does it: request <c>n</c> is due at
/// <c>start + n / rate</c> whether or not earlier ones have been answered, and its latency runs
/// from that due time to the whole response read. A server that stalls therefore shows the
/// queueing it caused in the figures (no coordinated omission), instead of slowing the client down.
/// Bounded by count (rate × duration) and time; scheduling also stops early when
/// <c>stopScheduling</c> fires. Loopback only; enough connections that requests never wait for one.
/// </summary>
internal sealed class OpenLoadGenerator : IDisposable
{
    /// <summary>Requests still unanswered this long after the last one was due are counted as errors.</summary>
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan MinimumWait = TimeSpan.FromMilliseconds(1);
    private readonly HttpClient _http;
    private readonly int _maxInFlight;

    public OpenLoadGenerator(Uri baseAddress, int maxConnections = 512, int maxInFlight = 4_096)
    {
        if (!IPAddress.TryParse(baseAddress.Host, out var address) || !IPAddress.IsLoopback(address))
        {
            throw new ArgumentException($"The load generator drives 127.0.0.1 only, not {baseAddress.Host}.", nameof(baseAddress));
        }

        var handler = new SocketsHttpHandler
        {
            // HTTP/1.1: one request per connection at a time, so as many connections as requests in flight.
            MaxConnectionsPerServer = maxConnections,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10),
            ConnectTimeout = TimeSpan.FromSeconds(5),
            UseCookies = false,
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
        };
        _http = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = RequestTimeout };
        _maxInFlight = maxInFlight;
    }

    /// <summary>
    /// Sends <paramref name="mix"/> in turn (request n is <c>mix[n % mix.Count]</c>) at
    /// <paramref name="ratePerSecond"/> for at most <paramref name="duration"/>, then waits for the
    /// answers still outstanding (at most <see cref="DrainTimeout"/>).
    /// </summary>
    public async Task<OpenLoadResult> RunAsync(
        IReadOnlyList<OpenLoadRequest> mix, double ratePerSecond, TimeSpan duration, CancellationToken stopScheduling, CancellationToken cancellationToken)
    {
        var count = Math.Max(1, (long)Math.Ceiling(ratePerSecond * duration.TotalSeconds));
        var run = new Run(count, mix.Count);
        var start = Stopwatch.GetTimestamp();
        // The schedule runs on a thread of its own, not on the thread pool: a continuation queued
        // behind the pool's socket work left requests several milliseconds late.
        var scheduled = await Task.Factory.StartNew(
            () => Schedule(mix, ratePerSecond, count, start, run, stopScheduling, cancellationToken),
            cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        var schedulingEnded = Stopwatch.GetTimestamp();
        run.EndScheduling();
        try
        {
            await run.Drained.WaitAsync(DrainTimeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            // Counted below: whatever has not completed is an error.
        }

        return run.Result(scheduled, ratePerSecond, Stopwatch.GetElapsedTime(start, schedulingEnded));
    }

    private long Schedule(
        IReadOnlyList<OpenLoadRequest> mix, double ratePerSecond, long count, long start, Run run, CancellationToken stopScheduling, CancellationToken cancellationToken)
    {
        var ticksPerRequest = Stopwatch.Frequency / ratePerSecond;
        long scheduled = 0;
        while (scheduled < count && (scheduled == 0 || !stopScheduling.IsCancellationRequested))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var now = Stopwatch.GetTimestamp();
            // Everything due by now goes out at once; its latency still counts from its own due time.
            while (scheduled < count && start + (long)(scheduled * ticksPerRequest) <= now)
            {
                var due = start + (long)(scheduled * ticksPerRequest);
                var kind = (int)(scheduled % mix.Count);
                if (Volatile.Read(ref run.InFlight) >= _maxInFlight)
                {
                    run.Fail(scheduled, kind, $"not sent: {_maxInFlight} requests already in flight");
                }
                else
                {
                    // Not kept in a list: each finished task would hold its request and response until the run ends.
                    Interlocked.Increment(ref run.InFlight);
                    _ = SendAsync(mix[kind], kind, scheduled, due, run, cancellationToken);
                }

                scheduled++;
            }

            if (scheduled < count)
            {
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), start + (long)(scheduled * ticksPerRequest));
                if (wait > TimeSpan.Zero)
                {
                    // Never less than 1 ms: sleeps are whole milliseconds, and an earlier version
                    // whose sub-millisecond waits returned at once spun and burnt one of the two
                    // cores the server runs on. Requests due during the sleep leave late, and that
                    // lateness is part of their latency (see the send-lag figure).
                    cancellationToken.WaitHandle.WaitOne(wait < MinimumWait ? MinimumWait : wait);
                }
            }
        }

        return scheduled;
    }

    private async Task SendAsync(OpenLoadRequest request, int kind, long index, long due, Run run, CancellationToken cancellationToken)
    {
        // Off the scheduler's thread before anything else: building and sending must not delay the next request.
        await Task.Yield();
        var sent = Stopwatch.GetTimestamp();
        try
        {
            using var message = request.Build(index);
            using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if (response.StatusCode == request.Expected)
            {
                // The whole body is read (latency runs to its last byte) into a pooled buffer and
                // dropped: buffering every answer in a fresh array cost the generator as much CPU
                // as the server spent making it, on the same two cores.
                await DrainAsync(response.Content, cancellationToken);
                run.Succeed(index, Stopwatch.GetTimestamp() - due, sent - due);
            }
            else
            {
                var text = await response.Content.ReadAsStringAsync(cancellationToken);
                run.Fail(index, kind, $"{message.Method} {message.RequestUri} answered {(int)response.StatusCode}, expected {(int)request.Expected}: {text[..Math.Min(text.Length, 200)]}");
            }
        }
        catch (HttpRequestException ex)
        {
            run.Fail(index, kind, ex.Message);
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            run.Fail(index, kind, $"no answer within {RequestTimeout.TotalSeconds:0} s");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Nobody awaits this task: whatever went wrong is counted, never lost.
            run.Fail(index, kind, $"{ex.GetType().Name}: {ex.Message}");
        }
        finally
        {
            run.Answered();
        }
    }

    private static async Task DrainAsync(HttpContent content, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            await using var body = await content.ReadAsStreamAsync(cancellationToken);
            while (await body.ReadAsync(buffer, cancellationToken) > 0)
            {
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public void Dispose() => _http.Dispose();

    /// <summary>Per scheduled request: its latency and send lag in Stopwatch ticks, or that it failed. Each slot is written once, by its own request.</summary>
    private sealed class Run(long count, int kinds)
    {
        private const byte Ok = 1;
        private const byte Failed = 2;
        private readonly long[] _latency = new long[count];
        private readonly long[] _lag = new long[count];
        private readonly byte[] _state = new byte[count];
        private readonly long[] _errorsByKind = new long[kinds];
        private readonly List<string> _errorSamples = [];
        private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _schedulingEnded;
        public int InFlight;

        /// <summary>Completes once scheduling has ended and no request is in flight.</summary>
        public Task Drained => _drained.Task;

        public void Answered()
        {
            if (Interlocked.Decrement(ref InFlight) == 0 && Volatile.Read(ref _schedulingEnded) == 1)
            {
                _drained.TrySetResult();
            }
        }

        public void EndScheduling()
        {
            Volatile.Write(ref _schedulingEnded, 1);
            if (Volatile.Read(ref InFlight) == 0)
            {
                _drained.TrySetResult();
            }
        }

        public void Succeed(long index, long latency, long lag)
        {
            _latency[index] = latency;
            _lag[index] = lag;
            Volatile.Write(ref _state[index], Ok);
        }

        public void Fail(long index, int kind, string message)
        {
            Volatile.Write(ref _state[index], Failed);
            Interlocked.Increment(ref _errorsByKind[kind]);
            lock (_errorSamples)
            {
                if (_errorSamples.Count < 5)
                {
                    _errorSamples.Add(message);
                }
            }
        }

        public OpenLoadResult Result(long scheduled, double rate, TimeSpan schedulingTime)
        {
            var latencies = PerKind();
            var fromSend = PerKind();

            var lags = new List<TimeSpan>();
            long unanswered = 0;
            for (long i = 0; i < scheduled; i++)
            {
                switch (Volatile.Read(ref _state[i]))
                {
                    case Ok:
                        latencies[i % kinds].Add(Stopwatch.GetElapsedTime(0, _latency[i]));
                        fromSend[i % kinds].Add(Stopwatch.GetElapsedTime(0, _latency[i] - _lag[i]));
                        lags.Add(Stopwatch.GetElapsedTime(0, _lag[i]));
                        break;
                    case Failed:
                        break;
                    default:
                        unanswered++;
                        break;
                }
            }

            // Requests given up on may still fail later, on their own threads: copy under the lock.
            List<string> samples;
            lock (_errorSamples)
            {
                samples = [.. _errorSamples];
            }

            if (unanswered > 0)
            {
                samples.Add($"{unanswered} requests were not answered within {DrainTimeout.TotalSeconds:0} s of the end");
            }

            var errors = _errorsByKind.Sum() + unanswered;
            return new OpenLoadResult(rate, scheduled, errors, schedulingTime, latencies, fromSend, lags, samples);
        }

        /// <summary>One empty list of samples per request kind.</summary>
        private List<TimeSpan>[] PerKind() => Enumerable.Range(0, kinds).Select(_ => new List<TimeSpan>()).ToArray();
    }
}

/// <summary>What an open-model run measured; latencies per request kind (in the order of the mix).</summary>
internal sealed class OpenLoadResult(
    double targetRate,
    long scheduled,
    long errors,
    TimeSpan schedulingTime,
    IReadOnlyList<List<TimeSpan>> latencies,
    IReadOnlyList<List<TimeSpan>> latenciesFromSend,
    List<TimeSpan> sendLags,
    IReadOnlyList<string> errorSamples)
{
    public double TargetRate { get; } = targetRate;

    public long Scheduled { get; } = scheduled;

    public long Errors { get; } = errors;

    public long Answered => latencies.Sum(l => l.Count);

    /// <summary>From the first request due to the last one sent.</summary>
    public TimeSpan SchedulingTime { get; } = schedulingTime;

    /// <summary>Requests sent per second over the scheduling time: below the target rate when the generator itself could not keep up.</summary>
    public double AchievedRate => Scheduled <= 1 || SchedulingTime <= TimeSpan.Zero ? Scheduled : (Scheduled - 1) / SchedulingTime.TotalSeconds;

    public IReadOnlyList<string> ErrorSamples { get; } = errorSamples;

    /// <summary>Latency of every answered request, or of one kind of the mix.</summary>
    public IReadOnlyList<TimeSpan> Latencies(int? kind = null) => kind is { } k ? latencies[k] : latencies.SelectMany(l => l).ToList();

    /// <summary>How late requests left against their due time (the generator's own share of the latency).</summary>
    public IReadOnlyList<TimeSpan> SendLags { get; } = sendLags;

    /// <summary>
    /// <see cref="Latency"/> from the moment each request was sent instead of when it was due: the
    /// generator's own lateness (<see cref="SendLags"/>) left out. A diagnosis, never the figure
    /// judged: it would hide queueing that delays sends.
    /// </summary>
    public Latency LatencyFromSend(int kind) => Of(latenciesFromSend[kind], kind);

    public Latency Latency(int? kind = null) => Of(Latencies(kind), kind);

    private Latency Of(IReadOnlyList<TimeSpan> samples, int? kind)
    {
        return samples.Count > 0
            ? Report.Latency.Of(samples.ToList())
            : throw new BenchCheckException($"No request{(kind is null ? "" : $" of kind {kind}")} was answered as expected ({string.Join("; ", ErrorSamples)}).");
    }
}
