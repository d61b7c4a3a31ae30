using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

// In-process by default: no second project is generated and built per benchmark (minutes on a
// shared two-core box), and allocations are still measured exactly by [MemoryDiagnoser].
// Command-line arguments are BenchmarkDotNet's own (--filter, --job short, --list flat …).
var config = DefaultConfig.Instance.AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).AsDefault());
BenchmarkSwitcher.FromAssembly(typeof(Runledger.Bench.Micro.MetricPatchParsing).Assembly).Run(args, config);
