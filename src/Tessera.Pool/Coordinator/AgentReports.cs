using Tessera.Pool.Protocol;

namespace Tessera.Pool.Coordinator;

/// <summary>
/// What an agent reports about its machine (its name and hardware at join and hello, its metrics in heartbeats), made
/// fit to keep. The coordinator stores it, lists it to every admin and plans with it, for as long as the node exists;
/// a token admits a machine, not whatever it chooses to describe itself as.
/// </summary>
internal static class AgentReports
{
    /// <summary>The longest node name: a DNS name's bound, so any host name fits.</summary>
    public const int MaxNameLength = 253;

    /// <summary>The largest hardware description; a machine with eight GPUs describes itself in about 2 KiB.</summary>
    public const int MaxHardwareBytes = 64 * 1024;

    /// <summary>
    /// Why a node may not call itself <paramref name="name"/> or describe itself with <paramref name="hardware"/>, or
    /// null. Names are shown in `tessera nodes` and in logs: control characters there could rewrite a terminal, format
    /// characters (right-to-left overrides) could make one name look like another. An empty name is allowed: the
    /// coordinator names the node after its id.
    /// </summary>
    public static string? Problem(string name, Protocol.Hardware? hardware)
    {
        name = name.Trim();
        if (name.Length > MaxNameLength)
            return $"the node name has {name.Length} characters; at most {MaxNameLength} are allowed (choose one with --name).";
        if (name.Any(c => char.IsControl(c) || char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.Format))
            return "the node name holds control or formatting characters; use letters, digits, punctuation and spaces (choose one with --name).";
        if (hardware?.CalculateSize() is > MaxHardwareBytes and var size)
            return $"the hardware description has {size} bytes; at most {MaxHardwareBytes} are allowed.";
        return null;
    }

    /// <summary>Why <paramref name="endpoint"/> is not an advertised probe endpoint (empty, or IP:PORT), or null.</summary>
    public static string? EndpointProblem(string endpoint) =>
        endpoint.Length == 0 || (endpoint.Length <= 64 && System.Net.IPEndPoint.TryParse(endpoint, out var parsed) && parsed.Port > 0)
            ? null
            : "the advertised probe endpoint is not IP:PORT.";

    // A measurement that is not a finite number becomes 0, the protocol's "not measured". An agent divides by a zero
    // interval now and then, and a joining machine may send anything; JSON has no NaN, so one such value made every
    // listing of the pool's nodes fail, and the planner cannot compare it with anything. Fixed in place: reports
    // arrive once a second per node, and are almost always clean.
    public static Protocol.Hardware Finite(Protocol.Hardware hardware)
    {
        hardware.CpuSpeedGbps = Finite(hardware.CpuSpeedGbps);
        foreach (var gpu in hardware.Gpus)
        {
            gpu.UtilizationPercent = Finite(gpu.UtilizationPercent);
            gpu.SpeedGbps = Finite(gpu.SpeedGbps);
        }
        return hardware;
    }

    public static Metrics Finite(Metrics metrics)
    {
        metrics.CpuBusyPercent = Finite(metrics.CpuBusyPercent);
        foreach (var gpu in metrics.Gpus)
            gpu.UtilizationPercent = Finite(gpu.UtilizationPercent);
        return metrics;
    }

    private static double Finite(double value) => double.IsFinite(value) ? value : 0;
}
