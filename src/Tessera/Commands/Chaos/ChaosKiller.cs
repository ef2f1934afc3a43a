using System.Diagnostics;

namespace Tessera.Cli.Commands.Chaos;

/// <summary>One kill: whom, when (a Stopwatch timestamp), and how long the pool took to heal (null: it did not within the bound).</summary>
internal sealed record KillRecord(string Target, bool Coordinator, long At, TimeSpan? HealedAfter);

/// <summary>
/// The killer of a chaos run: every <c>interval</c> it kills (SIGKILL) a random agent that holds a stage of the
/// deployment and starts it again after <c>restartAfter</c> (it rejoins as the same node, now spare); one of the kills,
/// the middle one, kills the coordinator instead and starts it again at once. Before the next kill it waits until
/// the pool has healed (every agent back, the deployment ready), so each failure is a single one.
/// </summary>
internal sealed class ChaosKiller(ChaosPool pool, TimeSpan interval, TimeSpan restartAfter, bool killCoordinator, int seed)
{
    /// <summary>How long the pool may take to heal after a kill before the run reports it.</summary>
    public static readonly TimeSpan HealTimeout = TimeSpan.FromSeconds(90);

    /// <summary>The kills that fit in <paramref name="duration"/>: one per interval, none at the very end (streams must see it).</summary>
    public static int SlotsIn(TimeSpan duration, TimeSpan interval) => Math.Max(0, (int)Math.Floor((duration.TotalSeconds - 1) / interval.TotalSeconds));

    public async Task<List<KillRecord>> RunAsync(TimeSpan duration, int maxKills, Action<string> log, CancellationToken cancellationToken)
    {
        var random = new Random(seed);
        var kills = new List<KillRecord>();
        var slots = Math.Min(SlotsIn(duration, interval), maxKills);
        var coordinatorSlot = killCoordinator && slots > 0 ? (slots + 1) / 2 : -1;
        var clock = Stopwatch.StartNew();
        for (var slot = 1; slot <= slots; slot++)
        {
            var due = interval * slot;
            if (due > clock.Elapsed)
                await Task.Delay(due - clock.Elapsed, cancellationToken).ConfigureAwait(false);
            if (clock.Elapsed >= duration)
                break;
            var at = Stopwatch.GetTimestamp();
            string target;
            if (slot == coordinatorSlot)
            {
                target = "coordinator";
                await pool.KillCoordinatorAsync().ConfigureAwait(false);
                log($"{clock.Elapsed.TotalSeconds,6:0.0} s  killed the coordinator (SIGKILL); starting it again");
                await pool.RestartCoordinatorAsync(cancellationToken).ConfigureAwait(false);
            }
            else
            {
                var holders = await pool.StageHoldersAsync(cancellationToken).ConfigureAwait(false);
                var candidates = Enumerable.Range(0, pool.AgentCount).Where(i => holders.Count == 0 || holders.Contains(ChaosPool.AgentName(i))).ToList();
                var victim = candidates[random.Next(candidates.Count)];
                target = ChaosPool.AgentName(victim);
                await pool.KillAgentAsync(victim).ConfigureAwait(false);
                log($"{clock.Elapsed.TotalSeconds,6:0.0} s  killed agent {target} (SIGKILL); starting it again in {restartAfter.TotalSeconds:0.#} s");
                await Task.Delay(restartAfter, cancellationToken).ConfigureAwait(false);
                pool.RestartAgent(victim);
            }
            var healed = await pool.WaitHealedAsync(HealTimeout, cancellationToken).ConfigureAwait(false);
            var healedAfter = healed ? Stopwatch.GetElapsedTime(at) : (TimeSpan?)null;
            log(healed
                ? $"{clock.Elapsed.TotalSeconds,6:0.0} s  healed {healedAfter!.Value.TotalSeconds:0.0} s after killing {target}"
                : $"{clock.Elapsed.TotalSeconds,6:0.0} s  NOT healed {HealTimeout.TotalSeconds:0} s after killing {target}");
            kills.Add(new KillRecord(target, slot == coordinatorSlot, at, healedAfter));
            if (!healed)
                break;
        }
        return kills;
    }
}
