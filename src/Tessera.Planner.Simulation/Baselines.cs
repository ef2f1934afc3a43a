using Tessera.Planner;

namespace Tessera.Planner.Simulation;

/// <summary>Choices the baselines share.</summary>
internal static class Baselines
{
    /// <summary>
    /// The usable devices with the most memory (then bandwidth, then id), at most <paramref name="most"/>: what a
    /// person listing machines by hand, or exo sizing its ring, starts from. Partial selection, no full sort of
    /// 10,000 devices for a ring of 16.
    /// </summary>
    /// <param name="context">The pool and which machines are up.</param>
    /// <param name="most">How many devices at most.</param>
    /// <param name="gpusFirst">Every GPU before any CPU (llama.cpp's rpc-servers), else memory alone (exo).</param>
    public static List<DeviceInfo> LargestUsable(SimulationContext context, int most, bool gpusFirst = false)
    {
        var order = Comparer<DeviceInfo>.Create(gpusFirst ? CompareGpusFirst : CompareLargest);
        var chosen = new List<DeviceInfo>(most + 1);
        var devices = context.Pool.Devices;
        for (var i = 0; i < devices.Count; i++)
        {
            if (!context.NodeUp[context.Pool.DeviceNode[i]])
                continue;
            var d = devices[i];
            if (chosen.Count == most && order.Compare(d, chosen[^1]) >= 0)
                continue;
            var at = chosen.BinarySearch(d, order);
            chosen.Insert(at < 0 ? ~at : at, d);
            if (chosen.Count > most)
                chosen.RemoveAt(chosen.Count - 1);
        }
        return chosen;
    }

    /// <summary>GPUs before CPUs, then as <see cref="CompareLargest"/>.</summary>
    public static int CompareGpusFirst(DeviceInfo a, DeviceInfo b) =>
        a.Kind != b.Kind ? (a.Kind == DeviceKind.Gpu ? -1 : 1) : CompareLargest(a, b);

    /// <summary>More memory first, then more bandwidth, then id (ordinal).</summary>
    public static int CompareLargest(DeviceInfo a, DeviceInfo b)
    {
        var c = b.FreeMemoryBytes.CompareTo(a.FreeMemoryBytes);
        if (c != 0)
            return c;
        c = b.MemoryBandwidthGBps.CompareTo(a.MemoryBandwidthGBps);
        return c != 0 ? c : string.CompareOrdinal(a.Id, b.Id);
    }
}
