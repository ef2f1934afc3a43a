using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tessera.Identity;
using Tessera.Pool.Agent;
using Tessera.Pool.Client;
using Tessera.Pool.Protocol;
using Tessera.Pool.Security;

namespace Tessera.Pool.Bench;

public sealed record HeartbeatBenchOptions
{
    public int Agents { get; init; } = 1000;
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(30);
    public int JoinConcurrency { get; init; } = 16;
    /// <summary>How long all agents may take to be ready after connecting; the bench adds 50 ms per agent beyond 3,600 (10,000 agents: 500 s).</summary>
    public TimeSpan ReadyTimeout { get; init; } = TimeSpan.FromSeconds(180);
    /// <summary>How the simulated agents carry their stream: the control link (as real agents do) or gRPC Connect.</summary>
    public AgentTransport Transport { get; init; } = AgentTransport.Control;
}

public sealed record HeartbeatBenchResult(
    int Agents,
    TimeSpan JoinTime,
    TimeSpan ReadyTime,
    TimeSpan Measured,
    double CoordinatorCores,
    long CoordinatorRssBytes,
    long CoordinatorPeakRssBytes,
    double HeartbeatsPerSecond,
    int AcksMeasured,
    double P50Ms,
    double P90Ms,
    double P99Ms,
    double MaxMs,
    int ReadyAtEnd,
    TimeSpan HeartbeatInterval)
{
    public string ToMarkdown()
    {
        var s = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        s.AppendLine(c, $"| agents | {Agents} |");
        s.AppendLine(c, $"| join (token, CSR, certificate) for all | {JoinTime.TotalSeconds:0.0} s |");
        s.AppendLine(c, $"| all ready after connecting | {ReadyTime.TotalSeconds:0.0} s |");
        s.AppendLine(c, $"| measured window | {Measured.TotalSeconds:0} s |");
        s.AppendLine(c, $"| coordinator CPU | {CoordinatorCores:0.00} cores |");
        s.AppendLine(c, $"| coordinator memory (RSS, end / peak) | {CoordinatorRssBytes / 1048576.0:0} MB / {CoordinatorPeakRssBytes / 1048576.0:0} MB |");
        s.AppendLine(c, $"| heartbeat interval (the coordinator's welcome) | {HeartbeatInterval.TotalSeconds:0.00} s |");
        s.AppendLine(c, $"| heartbeats applied | {HeartbeatsPerSecond:0} /s |");
        s.AppendLine(c, $"| heartbeat sent -> state applied -> ack received (n={AcksMeasured}) | p50 {P50Ms:0.0} ms, p90 {P90Ms:0.0} ms, p99 {P99Ms:0.0} ms, max {MaxMs:0.0} ms |");
        s.AppendLine(c, $"| nodes ready at the end | {ReadyAtEnd} / {Agents} |");
        return s.ToString();
    }
}

/// <summary>
/// Starts a coordinator as a child process and many lightweight in-process agents that speak the
/// real protocol (token join with CSR, mutual-TLS stream per agent, one heartbeat a second), then
/// measures the coordinator's CPU and memory and the heartbeat round trip.
/// </summary>
public static class HeartbeatBench
{
    /// <summary>Files a process holds besides the agents' sockets: the runtime, the database, the API client, logs.</summary>
    public const int FilesBesideAgents = 512;

    public static async Task<HeartbeatBenchResult> RunAsync(HeartbeatBenchOptions options, ProcessStartInfo coordinatorCommand, string dataDirectory, Action<string> progress, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Agents, 1);
        // Each agent is a socket in this process and another in the coordinator (which inherits this limit). Without
        // enough, connections fail late and one by one with "Too many open files", which reads like a coordinator bug.
        var files = options.Agents + FilesBesideAgents;
        if (ProcessSampler.OpenFileLimit() is { } limit && limit < files)
            throw new PoolException($"{options.Agents} agents need about {files} open files in this process and in the coordinator, but the limit is {limit}. Raise it in this shell (e.g. `ulimit -n 65536`; the hard limit may need root or LimitNOFILE in a systemd unit) and run again, or bench fewer agents.", exitCode: 2);
        var time = TimeProvider.System;
        using var coordinator = Process.Start(coordinatorCommand) ?? throw new PoolException("Could not start the coordinator process.");
        coordinator.OutputDataReceived += (_, _) => { };
        coordinator.ErrorDataReceived += (_, _) => { };
        if (coordinatorCommand.RedirectStandardOutput)
            coordinator.BeginOutputReadLine();
        if (coordinatorCommand.RedirectStandardError)
            coordinator.BeginErrorReadLine();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var runners = new List<Task>();
        try
        {
            var dir = new PoolDataDirectory(dataDirectory);
            var ready = Stopwatch.StartNew();
            while (CoordinatorInfo.TryLoad(dir.CoordinatorInfo) is null)
            {
                if (coordinator.HasExited)
                    throw new PoolException($"The coordinator exited with code {coordinator.ExitCode} during start.");
                if (ready.Elapsed > TimeSpan.FromSeconds(60))
                    throw new PoolException("The coordinator did not start within 60 s.");
                await Task.Delay(100, cancellationToken).ConfigureAwait(false);
            }
            using var api = PoolApiClient.Create(dir, null, null, time);
            var token = JoinToken.Parse((await api.CreateTokenAsync("2h", "bench", cancellationToken, uses: options.Agents).ConfigureAwait(false)).Token);

            progress($"Joining {options.Agents} agents...");
            var joinClock = Stopwatch.StartNew();
            var identities = new NodeIdentity[options.Agents];
            var hardware = new Protocol.Hardware { CpuModel = "simulated", LogicalCores = 4, RamTotalBytes = 16L << 30, RamFreeBytes = 8L << 30, CpuSpeedGbps = 20 };
            hardware.Simd.Add("avx2");
            await Parallel.ForAsync(0, options.Agents, new ParallelOptions { MaxDegreeOfParallelism = options.JoinConcurrency, CancellationToken = cancellationToken }, async (i, ct) =>
            {
                identities[i] = await JoinClient.JoinAsync(token, Path.Combine(dataDirectory, "bench-agents", $"a{i:D4}"), $"sim-{i:D4}", hardware, time, ct).ConfigureAwait(false);
            }).ConfigureAwait(false);
            var joinTime = joinClock.Elapsed;

            progress($"Connecting {options.Agents} agents...");
            var latencies = new LatencyRecorder();
            var metrics = new Metrics { RamFreeBytes = 8L << 30, DiskFreeBytes = 100L << 30, CpuBusyPercent = 5 };
            var longestIntervalMs = 0;
            var readyClock = Stopwatch.StartNew();
            var readyTimeout = options.ReadyTimeout + TimeSpan.FromMilliseconds(50.0 * Math.Max(0, options.Agents - 3600));
            for (var i = 0; i < options.Agents; i++)
            {
                var agentOptions = new AgentOptions
                {
                    DataDirectory = Path.Combine(dataDirectory, "bench-agents", $"a{i:D4}"),
                    Hardware = () => hardware,
                    Metrics = () => metrics,
                    OnHeartbeatAcknowledged = latencies.Record,
                    OnWelcome = welcome => InterlockedMax(ref longestIntervalMs, welcome.HeartbeatIntervalMs),
                    MaxBackoff = TimeSpan.FromSeconds(2),
                    Transport = options.Transport,
                };
                var runner = new AgentRunner(identities[i], agentOptions, time, NullLogger.Instance);
                runners.Add(Task.Run(() => runner.RunAsync(stop.Token), CancellationToken.None));
                // 200 connections a second: each is a TLS handshake with a client certificate on both sides, and a
                // faster storm (1,000 a second) kept the coordinator's two cores busy with handshakes for so long that
                // 10,000 agents' first heartbeats timed out and reconnected, which measures the storm, not the pool.
                if (i % 20 == 19)
                    await Task.Delay(100, cancellationToken).ConfigureAwait(false);
            }
            while (true)
            {
                // Counts, not the node list: the wait must not load the coordinator it is about to measure.
                var readyNow = await ReadyAsync(api, cancellationToken).ConfigureAwait(false);
                if (readyNow == options.Agents)
                    break;
                if (readyClock.Elapsed > readyTimeout)
                    throw new PoolException($"Only {readyNow} of {options.Agents} agents were ready after {readyTimeout.TotalSeconds:0} s.");
                await Task.Delay(500, cancellationToken).ConfigureAwait(false);
            }
            var readyTime = readyClock.Elapsed;

            progress($"All {options.Agents} ready after {readyTime.TotalSeconds:0.0} s; measuring for {options.Duration.TotalSeconds:0} s...");
            await Task.Delay(TimeSpan.FromSeconds(3), cancellationToken).ConfigureAwait(false); // settle
            var beatsBefore = await HeartbeatsAsync(api, cancellationToken).ConfigureAwait(false);
            var cpuBefore = ProcessSampler.CpuTime(coordinator.Id);
            latencies.Enabled = true;
            var window = Stopwatch.StartNew();
            long peak = 0;
            while (window.Elapsed < options.Duration)
            {
                peak = Math.Max(peak, ProcessSampler.ResidentBytes(coordinator.Id));
                await Task.Delay(1000, cancellationToken).ConfigureAwait(false);
            }
            latencies.Enabled = false;
            var elapsed = window.Elapsed;
            var cpu = ProcessSampler.CpuTime(coordinator.Id) - cpuBefore;
            var rss = ProcessSampler.ResidentBytes(coordinator.Id);
            var beats = await HeartbeatsAsync(api, cancellationToken).ConfigureAwait(false) - beatsBefore;
            var readyAtEnd = await ReadyAsync(api, cancellationToken).ConfigureAwait(false);
            return new HeartbeatBenchResult(options.Agents, joinTime, readyTime, elapsed, cpu / elapsed, rss, Math.Max(peak, rss),
                beats / elapsed.TotalSeconds, latencies.Count, latencies.Percentile(50), latencies.Percentile(90), latencies.Percentile(99), latencies.Percentile(100), readyAtEnd,
                TimeSpan.FromMilliseconds(Volatile.Read(ref longestIntervalMs)));
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            try
            {
                await Task.WhenAll(runners).WaitAsync(TimeSpan.FromSeconds(20), CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Agents failing while they stop must not leave the coordinator running.
            }
            finally
            {
                if (!coordinator.HasExited)
                {
                    coordinator.Kill(entireProcessTree: true);
                    await coordinator.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                }
            }
        }
    }

    private static void InterlockedMax(ref int target, int value)
    {
        for (var seen = Volatile.Read(ref target); value > seen;)
        {
            var was = Interlocked.CompareExchange(ref target, value, seen);
            if (was == seen)
                return;
            seen = was;
        }
    }

    /// <summary>Nodes ready now; -1 when the coordinator, busy with the agents' handshakes, did not answer in time (asked again later).</summary>
    private static async Task<int> ReadyAsync(PoolApiClient api, CancellationToken cancellationToken)
    {
        try
        {
            return (await api.GetStatsAsync(cancellationToken).ConfigureAwait(false)).States.GetValueOrDefault("ready");
        }
        catch (PoolException ex) when (ex.ExitCode == 4)
        {
            return -1;
        }
    }

    private static async Task<long> HeartbeatsAsync(PoolApiClient api, CancellationToken cancellationToken)
    {
        var stats = await api.GetStatsAsync(cancellationToken).ConfigureAwait(false);
        return stats.HeartbeatsApplied;
    }
}
