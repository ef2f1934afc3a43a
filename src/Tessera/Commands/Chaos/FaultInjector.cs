using System.Diagnostics;

namespace Tessera.Cli.Commands.Chaos;

/// <summary>
/// One injected fault: its kind, its target (an agent, the coordinator, or two agents whose link was cut), when it
/// started and ended (Stopwatch timestamps; the same instant for a kill), its wall-clock window up to the pool having
/// healed (to match the pool's events), how long healing took from its start (null: not within the bound), and what
/// exactly was done.
/// </summary>
internal sealed record FaultRecord(ChaosFault Kind, string Target, bool Coordinator, long At, long EndedAt, DateTimeOffset StartedUtc, DateTimeOffset SettledUtc,
    TimeSpan? HealedAfter, string Detail)
{
    /// <summary>How long the fault itself lasted (zero for a kill).</summary>
    public TimeSpan Lasted => Stopwatch.GetElapsedTime(At, EndedAt);

    /// <summary>When the pool had healed (a Stopwatch timestamp), or when the fault ended if it did not heal.</summary>
    public long SettledAt => HealedAfter is { } healed ? Math.Max(EndedAt, At + (long)(healed.TotalSeconds * Stopwatch.Frequency)) : EndedAt;
}

/// <summary>
/// The injector of a chaos run: in slot after slot (one every <c>interval</c>) it injects the fault the
/// <see cref="FaultSchedule"/> planned on a random agent that holds a stage: a kill (SIGKILL, started again after
/// <c>restartAfter</c>; rejoins as the same node, now spare) or the coordinator's kill (started again at once), a stop
/// (SIGSTOP, then SIGCONT), a slow spell (a SIGSTOP/SIGCONT duty cycle) or a cut link between two consecutive stages'
/// hosts. Before the next slot it waits until the pool has healed (every agent back, the deployment ready), so each
/// failure is a single one. Every stopped agent is continued and every cut link restored, also when the run is cancelled.
/// </summary>
internal sealed class FaultInjector(ChaosPool pool, TimeSpan interval, TimeSpan restartAfter, int seed, Action<string> log)
{
    /// <summary>How long the pool may take to heal after a fault before the run reports it.</summary>
    public static readonly TimeSpan HealTimeout = TimeSpan.FromSeconds(90);

    private readonly Random _random = new(seed);
    private readonly Stopwatch _clock = new();

    /// <summary>The faults that fit in <paramref name="duration"/>: one per interval, none at the very end (streams must see it).</summary>
    public static int SlotsIn(TimeSpan duration, TimeSpan interval) => Math.Max(0, (int)Math.Floor((duration.TotalSeconds - 1) / interval.TotalSeconds));

    public async Task<List<FaultRecord>> RunAsync(IReadOnlyList<PlannedFault> plan, TimeSpan duration, CancellationToken cancellationToken)
    {
        var faults = new List<FaultRecord>();
        _clock.Restart();
        foreach (var planned in plan)
        {
            var due = interval * planned.Slot;
            if (due > _clock.Elapsed)
                await Task.Delay(due - _clock.Elapsed, cancellationToken).ConfigureAwait(false);
            if (_clock.Elapsed >= duration)
                break;
            var startedUtc = DateTimeOffset.UtcNow;
            var at = Stopwatch.GetTimestamp();
            var injected = planned.Kind switch
            {
                ChaosFault.Kill when planned.Coordinator => await KillCoordinatorAsync(cancellationToken).ConfigureAwait(false),
                ChaosFault.Kill => await KillAgentAsync(cancellationToken).ConfigureAwait(false),
                ChaosFault.Stop => await StopAsync(planned.Duration, cancellationToken).ConfigureAwait(false),
                ChaosFault.Slow => await SlowAsync(planned.Duration, planned.StoppedFraction, cancellationToken).ConfigureAwait(false),
                ChaosFault.Cut => await CutAsync(planned.Duration, cancellationToken).ConfigureAwait(false),
                _ => throw new ArgumentOutOfRangeException(nameof(plan), planned.Kind, null),
            };
            if (injected is not { } done)
                continue;
            var (target, detail) = done;
            var ended = planned.Kind == ChaosFault.Kill ? at : Stopwatch.GetTimestamp();
            var healed = await pool.WaitHealedAsync(HealTimeout, cancellationToken).ConfigureAwait(false);
            var healedAfter = healed ? Stopwatch.GetElapsedTime(at) : (TimeSpan?)null;
            Log(healed
                ? $"healed {healedAfter!.Value.TotalSeconds:0.0} s after the {planned.Kind.Name()} of {target} began"
                : $"NOT healed {HealTimeout.TotalSeconds:0} s after the {planned.Kind.Name()} of {target}");
            faults.Add(new FaultRecord(planned.Kind, target, planned.Coordinator, at, ended, startedUtc, DateTimeOffset.UtcNow, healedAfter, detail));
            if (!healed)
                break;
        }
        return faults;
    }

    private void Log(string message) => log($"{_clock.Elapsed.TotalSeconds,6:0.0} s  {message}");

    private async Task<(string, string)?> KillCoordinatorAsync(CancellationToken cancellationToken)
    {
        await pool.KillCoordinatorAsync().ConfigureAwait(false);
        Log("killed the coordinator (SIGKILL); starting it again");
        await pool.RestartCoordinatorAsync(cancellationToken).ConfigureAwait(false);
        return ("coordinator", "SIGKILL, started again at once");
    }

    private async Task<(string, string)?> KillAgentAsync(CancellationToken cancellationToken)
    {
        var victim = await PickStageHolderAsync(cancellationToken).ConfigureAwait(false);
        await pool.KillAgentAsync(victim).ConfigureAwait(false);
        Log($"killed agent {ChaosPool.AgentName(victim)} (SIGKILL); starting it again in {restartAfter.TotalSeconds:0.#} s");
        await Task.Delay(restartAfter, cancellationToken).ConfigureAwait(false);
        pool.RestartAgent(victim);
        return (ChaosPool.AgentName(victim), $"SIGKILL, started again after {restartAfter.TotalSeconds:0.#} s");
    }

    private async Task<(string, string)?> StopAsync(TimeSpan duration, CancellationToken cancellationToken)
    {
        var victim = await PickStageHolderAsync(cancellationToken).ConfigureAwait(false);
        if (pool.AgentProcessId(victim) is not { } pid)
            return null;
        var name = ChaosPool.AgentName(victim);
        ProcessSignals.Stop(pid);
        Log($"stopped agent {name} (SIGSTOP) for {duration.TotalSeconds:0.0} s");
        try
        {
            await Task.Delay(duration, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ProcessSignals.Continue(pid);
        }
        Log($"continued agent {name} (SIGCONT)");
        return (name, $"SIGSTOP for {duration.TotalSeconds:0.0} s, then SIGCONT");
    }

    private async Task<(string, string)?> SlowAsync(TimeSpan duration, double stoppedFraction, CancellationToken cancellationToken)
    {
        var victim = await PickStageHolderAsync(cancellationToken).ConfigureAwait(false);
        if (pool.AgentProcessId(victim) is not { } pid)
            return null;
        var name = ChaosPool.AgentName(victim);
        Log($"slowing agent {name} for {duration.TotalSeconds:0.0} s: stopped {stoppedFraction:P0} of every {FaultSchedule.SlowPeriod.TotalMilliseconds:0} ms");
        // A thread of its own with Thread.Sleep: the cycle's 20-80 ms steps should not wait for the thread pool, which
        // the clients keep busy.
        var cycles = await Task.Factory.StartNew(() => DutyCycle(pid, duration, stoppedFraction, cancellationToken), cancellationToken,
            TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
        Log($"agent {name} runs at full speed again ({cycles} cycles)");
        return (name, $"stopped {stoppedFraction:P0} of every {FaultSchedule.SlowPeriod.TotalMilliseconds:0} ms for {duration.TotalSeconds:0.0} s");
    }

    private static int DutyCycle(int pid, TimeSpan duration, double stoppedFraction, CancellationToken cancellationToken)
    {
        var stopped = FaultSchedule.SlowPeriod * stoppedFraction;
        var running = FaultSchedule.SlowPeriod - stopped;
        var clock = Stopwatch.StartNew();
        var cycles = 0;
        try
        {
            while (clock.Elapsed < duration && !cancellationToken.IsCancellationRequested)
            {
                if (!ProcessSignals.Stop(pid))
                    break;
                Thread.Sleep(stopped);
                ProcessSignals.Continue(pid);
                Thread.Sleep(running);
                cycles++;
            }
        }
        finally
        {
            ProcessSignals.Continue(pid);
        }
        return cycles;
    }

    private async Task<(string, string)?> CutAsync(TimeSpan duration, CancellationToken cancellationToken)
    {
        var hosts = pool.Hosts ?? throw new InvalidOperationException("A cut needs the agents on hosts of their own (--namespaces).");
        var holders = await pool.StageHoldersAsync(cancellationToken).ConfigureAwait(false);
        var pairs = holders.Zip(holders.Skip(1)).Where(p => p.First != p.Second).ToList();
        if (pairs.Count > 0)
        {
            var (a, b) = pairs[_random.Next(pairs.Count)];
            await CutForAsync($"{a} <-> {b}", "consecutive stages", () => hosts.Cut(a, b), () => hosts.Restore(a, b), duration, cancellationToken).ConfigureAwait(false);
            return ($"{a} <-> {b}", $"link between consecutive stages blackholed both ways for {duration.TotalSeconds:0.0} s");
        }
        // A re-plan may have put the whole model on one agent (it fits): then the link that carries its stage traffic is
        // the coordinator's, and that one is cut instead.
        var victim = ChaosPool.AgentName(await PickStageHolderAsync(cancellationToken).ConfigureAwait(false));
        await CutForAsync($"coordinator <-> {victim}", "the only stage", () => hosts.CutFromCoordinator(victim), () => hosts.RestoreToCoordinator(victim), duration,
            cancellationToken).ConfigureAwait(false);
        return ($"coordinator <-> {victim}", $"link to the coordinator blackholed both ways for {duration.TotalSeconds:0.0} s");
    }

    private async Task CutForAsync(string link, string why, Action cut, Action restore, TimeSpan duration, CancellationToken cancellationToken)
    {
        cut();
        Log($"cut the link {link} ({why}) for {duration.TotalSeconds:0.0} s");
        try
        {
            await Task.Delay(duration, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            restore();
        }
        Log($"restored the link {link}");
    }

    /// <summary>A random agent that holds a stage now (any agent when the coordinator does not say).</summary>
    private async Task<int> PickStageHolderAsync(CancellationToken cancellationToken)
    {
        var holders = await pool.StageHoldersAsync(cancellationToken).ConfigureAwait(false);
        var candidates = Enumerable.Range(0, pool.AgentCount).Where(i => holders.Count == 0 || holders.Contains(ChaosPool.AgentName(i))).ToList();
        return candidates[_random.Next(candidates.Count)];
    }
}
