using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using Tessera.Engine.Gpu;
using Tessera.Engine.Tensors;

namespace Tessera.Cli.Commands;

/// <summary><c>tessera gpu</c>: the CUDA GPUs this machine shows, and how fast the device kernels run on one.</summary>
internal static class GpuCommand
{
    public static Command Create()
    {
        var command = new Command("gpu", "NVIDIA GPUs on this machine: list them, and measure the device kernels on one.");
        command.Subcommands.Add(List());
        command.Subcommands.Add(Bench());
        command.Subcommands.Add(Check());
        return command;
    }

    private static Command Check()
    {
        var device = DeviceOption();
        var cmd = new Command("check", "Run every device kernel on random data against the CPU engine and report the largest difference of each; exit 1 if one is out of bounds.")
        {
            device,
        };
        cmd.SetAction(result => CliErrors.Run(() =>
        {
            using var gpu = GpuDevice.Open(result.GetValue(device)!);
            using var ops = new GpuOps(gpu);
            var results = GpuSelfCheck.All(gpu, ops);
            var table = new Table().AddColumns("Check", "Difference", "Bound", "Result");
            foreach (var r in results)
                table.AddRow(Markup.Escape(r.Check), $"{r.Error:G3}", $"{r.Bound:G3}", r.Passed ? "[green]ok[/]" : "[red]FAILED[/]");
            Console.WriteLine($"{gpu.Name}: {results.Count(r => r.Passed)} of {results.Count} checks within their bounds");
            PoolCli.WriteTable(table);
            return results.All(r => r.Passed) ? 0 : 1;
        }));
        return cmd;
    }

    /// <summary>The device a command runs on: what <see cref="GpuDevice.Open"/> takes.</summary>
    private static Option<string> DeviceOption() => new("--device", "-d")
    {
        Description = "cuda:N (or gpuN), or stand-in (ILGPU's CPU accelerator, for a check without a GPU).",
        DefaultValueFactory = _ => "cuda:0",
    };

    private static Command List()
    {
        var output = PoolCli.OutputOption();
        var cmd = new Command("list", "The CUDA GPUs the driver shows (none without an NVIDIA driver).") { output };
        cmd.SetAction(result => CliErrors.Run(() =>
        {
            var gpus = GpuDevice.ListCuda();
            if (result.GetValue(output) == "json")
            {
                Console.WriteLine(JsonSerializer.Serialize(gpus.Select(g => new { device = $"cuda:{g.Index}", name = g.Name, memory_bytes = g.MemoryBytes }), CliJson.Options));
                return 0;
            }
            if (gpus.Count == 0)
            {
                Console.WriteLine("No CUDA GPU: this machine has no NVIDIA GPU, or its driver (libcuda) is not installed. Stages run on the CPU.");
                return 0;
            }
            var table = new Table().AddColumns("Device", "Name", "Memory");
            foreach (var g in gpus)
                table.AddRow($"cuda:{g.Index}", Markup.Escape(g.Name), $"{g.MemoryBytes / (1024.0 * 1024 * 1024):F1} GiB");
            PoolCli.WriteTable(table);
            return 0;
        }));
        return cmd;
    }

    private static Command Bench()
    {
        var device = DeviceOption();
        var shape = new Option<string>("--shape") { Description = "Layer shapes: 7b (4096 wide, 11008 feed-forward), tinyllama (2048, 5632) or tiny (256, 512).", DefaultValueFactory = _ => "7b" };
        shape.AcceptOnlyFromAmong("7b", "tinyllama", "tiny");
        var types = new Option<string>("--types") { Description = "Comma-separated tensor types.", DefaultValueFactory = _ => "Q4_0,Q8_0,F16" };
        var runs = new Option<int>("--runs", "-r") { Description = "Timed runs per product; the median is reported.", DefaultValueFactory = _ => 20 };
        var output = PoolCli.OutputOption();
        var cmd = new Command("bench", "Measure the device's memory bandwidth (a copy kernel) and each decode product's weight bytes per second against it.")
        {
            device, shape, types, runs, output,
        };
        cmd.SetAction(result => CliErrors.Run(() =>
        {
            var typeList = result.GetValue(types)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(t => Enum.TryParse<GgmlType>(t, ignoreCase: true, out var parsed) && Array.IndexOf(GpuMatrix.SupportedTypes, parsed) >= 0
                    ? parsed
                    : throw new ArgumentException($"Unknown or unsupported tensor type '{t}': the GPU kernels compute {string.Join(", ", GpuMatrix.SupportedTypes)}."))
                .ToList();
            var (width, feedForward) = result.GetValue(shape) switch
            {
                "tiny" => (256, 512),
                "tinyllama" => (2048, 5632),
                _ => (4096, 11008),
            };
            using var gpu = GpuDevice.Open(result.GetValue(device)!);
            var copyBytes = gpu.Kind == GpuDeviceKind.Cuda ? 512L << 20 : 4L << 20;
            var report = GpuBenchmark.Run(gpu, typeList, GpuBenchmark.ShapesOf(width, feedForward), Math.Max(1, result.GetValue(runs)), copyBytes);
            if (result.GetValue(output) == "json")
            {
                Console.WriteLine(JsonSerializer.Serialize(report, CliJson.Options));
                return 0;
            }
            Console.WriteLine($"{report.Device}: copy {report.CopyGBps:G3} GB/s (read + written)");
            var table = new Table().AddColumns("Type", "Rows x cols", "Median ms", "Weights GB/s", "Of copy");
            foreach (var k in report.Kernels)
                table.AddRow(k.Type, $"{k.Rows} x {k.Cols}", $"{k.MedianMilliseconds:F3}", $"{k.WeightGBps:G3}", $"{k.FractionOfCopy:P0}");
            PoolCli.WriteTable(table);
            return 0;
        }));
        return cmd;
    }
}
