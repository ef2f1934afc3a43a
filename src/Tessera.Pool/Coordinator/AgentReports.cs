using Tessera.Pool.Protocol;

namespace Tessera.Pool.Coordinator;

/// <summary>
/// What an agent reports about its machine (its name and hardware at join and hello, its metrics in heartbeats), made
/// fit to keep. The coordinator stores it, lists it to every admin and plans with it, for as long as the node exists;
/// a token admits a machine, not whatever it chooses to describe itself as.
/// </summary>
internal static partial class AgentReports
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
    // A GPU's device name becomes part of the pool's device ids and comes back to the agent in its stage commands: one
    // that is not a plain word, names the CPU, or takes another GPU's index name, becomes "gpu" + its index; a GPU whose
    // name another has already (two GPUs reported with one index) is dropped, as no command could tell them apart.
    public static Protocol.Hardware Finite(Protocol.Hardware hardware)
    {
        hardware.CpuSpeedGbps = Finite(hardware.CpuSpeedGbps);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < hardware.Gpus.Count; i++)
        {
            var gpu = hardware.Gpus[i];
            gpu.UtilizationPercent = Finite(gpu.UtilizationPercent);
            gpu.SpeedGbps = Finite(gpu.SpeedGbps);
            var own = "gpu" + gpu.Index.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (!IsDeviceName(gpu.Device) || (gpu.Device != own && IndexName().IsMatch(gpu.Device)))
                gpu.Device = own;
            if (!names.Add(gpu.Device))
                hardware.Gpus.RemoveAt(i--);
        }
        return hardware;
    }

    /// <summary>A device name an agent may give a GPU: 1 to 32 lower-case letters, digits or '-', not "cpu".</summary>
    public static bool IsDeviceName(string name) =>
        name.Length is > 0 and <= 32 && name != "cpu" && name.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-');

    [System.Text.RegularExpressions.GeneratedRegex("^gpu-?[0-9]+$")]
    private static partial System.Text.RegularExpressions.Regex IndexName();

    public static Metrics Finite(Metrics metrics)
    {
        metrics.CpuBusyPercent = Finite(metrics.CpuBusyPercent);
        foreach (var gpu in metrics.Gpus)
            gpu.UtilizationPercent = Finite(gpu.UtilizationPercent);
        return metrics;
    }

    private static double Finite(double value) => double.IsFinite(value) ? value : 0;
}
