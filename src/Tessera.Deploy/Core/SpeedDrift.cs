using System.Globalization;

namespace Tessera.Deploy;

/// <summary>
/// Which devices of a plan run at another speed than the plan was weighed with, by at least a factor, in words: the
/// trigger that brings a deployment's look for a better plan forward ("stage 1 on node b is 3.1x slower than planned:
/// 7.2 GB/s from its step times, planned with 22.1 GB/s"). It only says when to look; whether to move is the
/// planner's call, with its improvement margins. Pure.
/// </summary>
internal static class SpeedDrift
{
    /// <param name="stages">The plan's stages.</param>
    /// <param name="weighed">Device id → the speed (GB/s) the plan was last weighed with; a device missing here counts with its probe's.</param>
    /// <param name="probed">Device id → the probe's speed (0 when unmeasured).</param>
    /// <param name="effective">Device id → the speed to plan with now (<see cref="ObservedSpeeds.Effective"/>).</param>
    /// <param name="observed">Devices whose <paramref name="effective"/> speed comes from their own stages (others are the probe's, calibrated).</param>
    /// <param name="factor">How far (either way) a speed must move to count; above 1.</param>
    public static List<(string DeviceId, string Words)> Find(IReadOnlyList<StoredStage> stages, IReadOnlyDictionary<string, double> weighed,
        IReadOnlyDictionary<string, double> probed, IReadOnlyDictionary<string, double> effective, IReadOnlySet<string> observed, double factor)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(factor, 1);
        var found = new List<(string, string)>();
        // Like is compared with like: until every node of the plan has shown its own speed, the others count with their
        // probes' figures (calibrated by the one observed), and a check then would weigh guesses. A pipeline's stages make
        // the same passes, so they are all observed within a reading or two of each other.
        if (!stages.All(s => observed.Contains(s.DeviceId)))
            return found;
        foreach (var stage in stages.OrderBy(s => s.Replica).ThenBy(s => s.Index))
        {
            var node = stage.DeviceId;
            if (!observed.Contains(node) || found.Exists(f => f.Item1 == node) || !effective.TryGetValue(node, out var now))
                continue;
            var before = weighed.TryGetValue(node, out var w) ? w : probed.GetValueOrDefault(node);
            if (!(before > 0) || !(now > 0))
                continue;
            var ratio = Math.Max(before / now, now / before);
            if (ratio < factor)
                continue;
            var probe = probed.GetValueOrDefault(node);
            var planned = probe > 0 && Math.Abs(probe - before) <= 1e-9 * probe
                ? string.Create(CultureInfo.InvariantCulture, $"planned with its probe's {before:0.##} GB/s")
                : string.Create(CultureInfo.InvariantCulture, $"planned with {before:0.##} GB/s") +
                  (probe > 0 ? string.Create(CultureInfo.InvariantCulture, $" (its probe said {probe:0.##})") : "");
            var replica = stage.Replica > 0 ? $" of replica {stage.Replica}" : "";
            found.Add((node, string.Create(CultureInfo.InvariantCulture,
                $"stage {stage.Index}{replica} on node {stage.NodeName}{(Tessera.Engine.Backends.ComputeDevices.IsCpu(stage.Device) ? "" : " (" + stage.Device + ")")} is {ratio:0.0}x {(now < before ? "slower" : "faster")} than planned: {now:0.##} GB/s from its step times, {planned}")));
        }
        return found;
    }
}
