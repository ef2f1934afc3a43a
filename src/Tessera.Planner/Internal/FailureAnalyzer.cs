using System.Text;

namespace Tessera.Planner.Internal;

/// <summary>Explains why no placement exists: how much memory is missing in total, and which pieces fit nowhere.</summary>
internal static class FailureAnalyzer
{
    public const string Advice = "add a node or lower --context/--max-sessions";

    public static PlanFailure Explain(CostModel cost, IReadOnlyList<DeviceInfo> eligible, int totalDevices, string? prefix = null)
    {
        var request = cost.Request;
        long available = 0;
        DeviceInfo? largest = null;
        foreach (var d in eligible)
        {
            var a = cost.Available(d);
            available += a;
            if (largest is null || a > cost.Available(largest) || (a == cost.Available(largest) && string.CompareOrdinal(d.Id, largest.Id) < 0))
                largest = d;
        }
        var largestAvailable = largest is null ? 0 : cost.Available(largest);

        // The pieces no split can divide: each layer alone, with the embedding when first and the head when last.
        var shortfalls = new List<DeviceShortfall>();
        void Check(int first, int last, string what)
        {
            var need = cost.Memory(first, last);
            if (need > largestAvailable)
                shortfalls.Add(new DeviceShortfall(what, largest?.Id, largest?.NodeName, need, largestAvailable));
        }
        var L = cost.L;
        Check(0, 1, L == 1 ? "layer 0 with the embedding and the output head" : "layer 0 with the embedding");
        if (L > 1)
            Check(L - 1, L, $"layer {L - 1} with the output head");
        var heaviest = Enumerable.Range(1, Math.Max(0, L - 2)).OrderByDescending(i => cost.Memory(i, i + 1)).ThenBy(i => i).FirstOrDefault(-1);
        if (heaviest >= 0)
            Check(heaviest, heaviest + 1, $"layer {heaviest}");
        shortfalls.Sort((a, b) => b.MissingBytes.CompareTo(a.MissingBytes));

        var required = cost.TotalBytes(EstimatedStages(cost, eligible, largestAvailable));
        var sb = new StringBuilder();
        if (prefix is not null)
            sb.Append(prefix);
        var what = $"{request.Model.Name} (weights {Bytes.Format(request.Model.TotalWeightBytes)} + KV cache {Bytes.Format(cost.Kv(0, L))} " +
            $"for {request.ContextLength} tokens x {request.MaxSessions} {(request.MaxSessions == 1 ? "session" : "sessions")})";
        if (eligible.Count == 0)
        {
            sb.Append(what).Append(" needs ").Append(Bytes.Format(required)).Append(", the pool has no usable device");
            if (totalDevices > 0)
                sb.Append(" (").Append(totalDevices).Append(totalDevices == 1 ? " device is" : " devices are").Append(" excluded, draining, lost or unmeasured)");
            sb.Append(": missing ").Append(Bytes.Format(required)).Append("; add a node");
            return new PlanFailure { RequiredBytes = required, AvailableBytes = 0, Shortfalls = shortfalls, Message = sb.ToString() };
        }
        if (required > available)
        {
            sb.Append(what).Append(" needs ").Append(Bytes.Format(required)).Append(", the pool has ").Append(Bytes.Format(available))
                .Append(" free: missing ").Append(Bytes.Format(required - available)).Append("; ").Append(Advice);
        }
        else
        {
            sb.Append(what).Append(" needs ").Append(Bytes.Format(required)).Append(" and the pool has ").Append(Bytes.Format(available))
                .Append(" free, but it cannot be split to fit the devices");
            if (shortfalls.Count > 0)
                sb.Append(": ").Append(shortfalls[0]);
            sb.Append("; ").Append(Advice);
        }
        if (shortfalls.Count > 0 && required > available)
            sb.Append(". Also: ").Append(shortfalls[0]);
        return new PlanFailure { RequiredBytes = required, AvailableBytes = available, Shortfalls = shortfalls, Message = sb.ToString() };
    }

    /// <summary>
    /// Stages the model would need (each adds scratch memory): the fewest of the largest devices that hold it, or,
    /// when the pool cannot, as many devices as large as the largest would need.
    /// </summary>
    private static int EstimatedStages(CostModel cost, IReadOnlyList<DeviceInfo> eligible, long largestAvailable)
    {
        var k = 0;
        long cumulative = 0;
        foreach (var a in eligible.Select(cost.Available).OrderDescending())
        {
            cumulative += a;
            k++;
            if (cumulative >= cost.TotalBytes(k))
                return Math.Min(k, cost.L);
        }
        if (largestAvailable <= 0)
            return 1;
        return (int)Math.Clamp((cost.WholeModelBytes + largestAvailable - 1) / largestAvailable, 1, cost.L);
    }
}
