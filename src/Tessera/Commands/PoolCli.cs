using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Tessera.Identity;
using Tessera.Pool;
using Tessera.Pool.Client;

namespace Tessera.Cli.Commands;

/// <summary>Options and helpers shared by the pool commands (pool, join, token, nodes, node, events).</summary>
internal static class PoolCli
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerOptions.Web) { WriteIndented = true };

    public static Option<string?> DataDirOption() => new("--data-dir")
    {
        Description = "Directory of the pool's files (default: $TESSERA_HOME or ~/.tessera).",
    };

    /// <summary>--cache-limit: the most bytes a machine's model store keeps; unbounded when not given.</summary>
    public static Option<string?> CacheLimitOption() => new("--cache-limit")
    {
        Description = "Most disk the model store keeps, e.g. 200GB; beyond it the least recently used files no stage or deployment needs are deleted (default: no limit).",
    };

    /// <summary>The bytes --cache-limit allows.</summary>
    public static long CacheLimitBytes(string? text) => text is null ? long.MaxValue : Tessera.Pool.Security.SizeParser.Parse(text);

    /// <summary>--max-download: the largest file a Hugging Face download may bring.</summary>
    public static Option<int> ProbePortOption() => new("--probe-port")
    {
        Description = "TCP port of this agent's link probe, where peers measure their links to it (0: any free port; open it in a firewall to fix it).",
        DefaultValueFactory = _ => 0,
    };

    public static Option<string?> MaxDownloadOption() => new("--max-download")
    {
        Description = "Largest file to download from Hugging Face, e.g. 300GB; a larger one is refused before it starts, or stopped when the server sends more (default: 256GB).",
    };

    /// <summary>The bytes --max-download allows.</summary>
    public static long MaxDownloadBytes(string? text) =>
        text is null ? Tessera.Distribution.HuggingFaceOptions.DefaultMaxDownloadBytes : Tessera.Pool.Security.SizeParser.Parse(text);

    /// <summary>--speed-gbps: a memory bandwidth to report instead of the measured one.</summary>
    public static Option<double?> SpeedOption() => new("--speed-gbps")
    {
        Description = "Memory bandwidth (GB/s) to report for this machine's CPU instead of measuring it: a figure you know, or to make placement predictable.",
    };

    /// <summary>
    /// The machine's hardware, with the declared memory bandwidth in place of a measurement when one is given, and the
    /// stand-in GPU <paramref name="standInGpu"/> describes (tests only, see <see cref="StandInGpuOption"/>).
    /// </summary>
    public static Tessera.Pool.Protocol.Hardware Discover(string directory, int probeMegabytes, double? speedGbps, string? standInGpu = null)
    {
        if (speedGbps is { } declared && !(declared > 0 && double.IsFinite(declared)))
            throw new PoolException($"--speed-gbps must be a positive number of GB/s (got {declared}).", exitCode: 2);
        var hardware = Tessera.Pool.Hardware.HardwareDiscovery.Discover(directory, speedGbps ?? Tessera.Engine.Kernels.MemorySpeedProbe.Measure(probeMegabytes));
        // Each GPU nvidia-smi shows is measured by the GPU backend's copy kernel: the speed the pool plans with.
        foreach (var gpu in hardware.Gpus)
        {
            var (gbps, problem) = Tessera.Engine.Gpu.GpuBenchmark.ProbeCuda(gpu.Index);
            if (gbps is { } measured)
                gpu.SpeedGbps = measured;
            else
                Console.Error.WriteLine($"GPU {gpu.Index} ({gpu.Name}): not measured, the GPU backend cannot use it: {problem}");
        }
        if (standInGpu is not null)
            AddStandInGpu(hardware, standInGpu);
        return hardware;
    }

    /// <summary>
    /// --stand-in-gpu MEMORY:GBPS (tests only): reports ILGPU's CPU accelerator as a GPU named "stand-in" with that memory
    /// and declared speed, so a pool without GPUs plans, places and runs stages on a GPU device through the path a
    /// GPU takes (the kernels CUDA runs, computed on the CPU).
    /// </summary>
    public static Option<string?> StandInGpuOption() => new("--stand-in-gpu")
    {
        Description = "Tests only: report ILGPU's CPU accelerator as a GPU named stand-in, with MEMORY:GBPS (e.g. 2GB:400).",
        Hidden = true,
    };

    /// <summary>Adds the stand-in GPU that <paramref name="text"/> (MEMORY:GBPS) describes to <paramref name="hardware"/>.</summary>
    public static void AddStandInGpu(Tessera.Pool.Protocol.Hardware hardware, string text)
    {
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !double.TryParse(text.AsSpan(colon + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var gbps) || !(gbps > 0) || !double.IsFinite(gbps))
            throw new PoolException($"--stand-in-gpu must be MEMORY:GBPS, e.g. 2GB:400 (got '{text}').", exitCode: 2);
        var bytes = Tessera.Pool.Security.SizeParser.Parse(text[..colon]);
        hardware.Gpus.Add(new Tessera.Pool.Protocol.Gpu
        {
            // No nvidia-smi index: heartbeats' GPU samples never match it, so its free memory stays the declared one.
            Index = -1,
            Name = "ILGPU CPU stand-in",
            MemoryTotalBytes = bytes,
            MemoryFreeBytes = bytes,
            SpeedGbps = gbps,
            Device = Tessera.Engine.Gpu.GpuDevice.StandInName,
        });
    }

    public static Option<string?> CoordinatorOption() => new("--coordinator")
    {
        Description = "API address of the coordinator, e.g. https://10.0.0.5:7470 (default: from coordinator.json in the data directory).",
    };

    public static Option<string?> AdminKeyOption() => new("--admin-key")
    {
        Description = "Admin key (default: $TESSERA_ADMIN_KEY, else admin.key in the data directory).",
    };

    public static Option<string> OutputOption()
    {
        var option = new Option<string>("--output", "-o") { Description = "Output format: table or json.", DefaultValueFactory = _ => "table" };
        option.AcceptOnlyFromAmong("table", "json");
        return option;
    }

    /// <summary>Adds --data-dir, --coordinator and --admin-key; returns a factory of API clients from a parse result.</summary>
    /// <param name="timeout">How long one request may take (default 15 s; longer for commands that wait for work, such as measurements).</param>
    public static Func<ParseResult, PoolApiClient> AddClientOptions(Command command, TimeSpan? timeout = null)
    {
        var dataDir = DataDirOption();
        var coordinator = CoordinatorOption();
        var adminKey = AdminKeyOption();
        command.Options.Add(dataDir);
        command.Options.Add(coordinator);
        command.Options.Add(adminKey);
        return result => PoolApiClient.Create(new PoolDataDirectory(result.GetValue(dataDir)), result.GetValue(coordinator), result.GetValue(adminKey), TimeProvider.System, timeout);
    }

    /// <summary>Runs a command body, turning <see cref="PoolException"/> into a message on stderr and its exit code.</summary>
    /// <param name="format">With <see cref="LogFormat.Json"/> (a long-running command's --log-format) the message is one JSON log line.</param>
    public static async Task<int> RunAsync(Func<Task<int>> body, LogFormat format = LogFormat.Text)
    {
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (PoolException ex)
        {
            await ReportAsync(ex.Message, format).ConfigureAwait(false);
            return ex.ExitCode;
        }
        catch (IdentityException ex)
        {
            await ReportAsync(ex.Message, format).ConfigureAwait(false);
            return 1;
        }
        catch (OperationCanceledException)
        {
            return 130;
        }
    }

    private static async Task ReportAsync(string message, LogFormat format)
    {
        if (format == LogFormat.Json)
            CommandOutput.JsonError(message);
        else
            await Console.Error.WriteLineAsync("error: " + message).ConfigureAwait(false);
    }

    /// <summary>
    /// A token cancelled by <paramref name="token"/> or by SIGINT/SIGTERM, for long-running commands
    /// (pool start, join) so they stop gracefully: agents close their streams, the coordinator
    /// writes its last heartbeats.
    /// </summary>
    public static StoppingSignal OnStopSignal(CancellationToken token) => new(token);

    internal sealed class StoppingSignal : IDisposable
    {
        private readonly CancellationTokenSource _source;
        private readonly List<System.Runtime.InteropServices.PosixSignalRegistration> _registrations = [];

        public StoppingSignal(CancellationToken token)
        {
            _source = CancellationTokenSource.CreateLinkedTokenSource(token);
            foreach (var signal in new[] { System.Runtime.InteropServices.PosixSignal.SIGINT, System.Runtime.InteropServices.PosixSignal.SIGTERM })
            {
                _registrations.Add(System.Runtime.InteropServices.PosixSignalRegistration.Create(signal, context =>
                {
                    context.Cancel = true;
                    _source.Cancel();
                }));
            }
        }

        public CancellationToken Token => _source.Token;

        public void Dispose()
        {
            foreach (var registration in _registrations)
                registration.Dispose();
            _source.Dispose();
        }
    }

    /// <summary>--log-format of the long-running commands (pool start, join, serve, stage serve).</summary>
    public static Option<LogFormat> LogFormatOption() => new("--log-format")
    {
        Description = "How log messages are written to stderr: text (one line each, for people) or json (one JSON object per line: Timestamp, LogLevel, Category, Message, State, for log collectors; what the command prints for you is logged too).",
        DefaultValueFactory = _ => LogFormat.Text,
    };

    /// <summary>Logging to stderr for a long-running command: every message on one line, as text or as one JSON object.</summary>
    public static ILoggerFactory CreateLogging(bool verbose, LogFormat format = LogFormat.Text) => LoggerFactory.Create(builder =>
    {
        if (format == LogFormat.Json)
        {
            builder.AddJsonConsole(o =>
            {
                o.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";
                o.UseUtcTimestamp = true;
                o.JsonWriterOptions = new JsonWriterOptions { Indented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
            });
        }
        else
        {
            builder.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss ";
            });
        }
        builder.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.AddFilter((category, level) =>
        {
            if (category is not null && (category.StartsWith("Microsoft", StringComparison.Ordinal) || category.StartsWith("Grpc", StringComparison.Ordinal)))
                return level >= LogLevel.Warning;
            return level >= (verbose ? LogLevel.Debug : LogLevel.Information);
        });
    });

    /// <summary>Writes a table; when stdout is redirected, wide enough not to wrap every cell.</summary>
    public static void WriteTable(Spectre.Console.Table table)
    {
        if (Console.IsOutputRedirected)
            Spectre.Console.AnsiConsole.Profile.Width = 200;
        Spectre.Console.AnsiConsole.Write(table);
    }

    public static void WriteJson<T>(T value) => Console.WriteLine(JsonSerializer.Serialize(value, Json));

    public static string Gib(long bytes) => (bytes / (1024.0 * 1024 * 1024)).ToString("0.0", CultureInfo.InvariantCulture);

    public static string Ago(DateTimeOffset? at)
    {
        if (at is null)
            return "never";
        var age = DateTimeOffset.UtcNow - at.Value;
        if (age < TimeSpan.Zero)
            age = TimeSpan.Zero;
        return age.TotalSeconds < 90 ? $"{age.TotalSeconds:0.0} s ago"
            : age.TotalMinutes < 90 ? $"{age.TotalMinutes:0} min ago"
            : age.TotalHours < 48 ? $"{age.TotalHours:0} h ago"
            : $"{at.Value:yyyy-MM-dd HH:mm}";
    }
}
