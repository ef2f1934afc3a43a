namespace Tessera.Planner.Internal;

/// <summary>
/// Splits the layers over an ordered list of devices, every device taking at least one contiguous range.
/// Two dynamic programmes over (devices used, layer boundary), O(k x L^2) each with O(1) costs:
/// the first finds the smallest possible slowest stage B* (the split in proportion to speed that memory allows);
/// the second, among splits whose every stage is within B*, finds the one with the least total time
/// (faster devices fill up first when that does not slow the pipeline). Memory is checked for every range.
/// </summary>
internal static class SplitSolver
{
    public static LayerSpan[]? Solve(CostModel cost, IReadOnlyList<DeviceInfo> devices)
    {
        var k = devices.Count;
        var L = cost.L;
        if (k == 0 || k > L)
            return null;
        var available = new long[k];
        for (var j = 0; j < k; j++)
            available[j] = cost.Available(devices[j]);

        // Pass 1: best[j][l] = smallest slowest stage covering layers [0, l) with the first j devices.
        var best = NewTable(k, L);
        best[0][0] = 0;
        for (var j = 1; j <= k; j++)
        {
            var d = devices[j - 1];
            var maxEnd = L - (k - j); // leave at least one layer for each later device
            for (var m = j - 1; m < maxEnd; m++)
            {
                var before = best[j - 1][m];
                if (double.IsPositiveInfinity(before))
                    continue;
                for (var l = m + 1; l <= maxEnd; l++)
                {
                    if (cost.Memory(m, l) > available[j - 1])
                        break; // memory grows with l
                    if (j == k && l != L)
                        continue;
                    var v = Math.Max(before, cost.Compute(d, m, l));
                    if (v < best[j][l])
                        best[j][l] = v;
                }
            }
        }
        var bottleneck = best[k][L];
        if (double.IsPositiveInfinity(bottleneck))
            return null;

        // Pass 2: least total time with every stage within the bottleneck found.
        var cap = bottleneck * (1 + 1e-9) + 1e-15;
        var sum = NewTable(k, L);
        var parent = new int[k + 1][];
        for (var j = 0; j <= k; j++)
            parent[j] = new int[L + 1];
        sum[0][0] = 0;
        for (var j = 1; j <= k; j++)
        {
            var d = devices[j - 1];
            var maxEnd = L - (k - j);
            for (var m = j - 1; m < maxEnd; m++)
            {
                var before = sum[j - 1][m];
                if (double.IsPositiveInfinity(before))
                    continue;
                for (var l = m + 1; l <= maxEnd; l++)
                {
                    if (cost.Memory(m, l) > available[j - 1])
                        break;
                    if (j == k && l != L)
                        continue;
                    var t = cost.Compute(d, m, l);
                    if (t > cap)
                        continue;
                    var v = before + t;
                    if (v < sum[j][l])
                    {
                        sum[j][l] = v;
                        parent[j][l] = m;
                    }
                }
            }
        }
        if (double.IsPositiveInfinity(sum[k][L]))
            return null; // cannot happen: pass 1's split is within its own bottleneck

        var spans = new LayerSpan[k];
        var end = L;
        for (var j = k; j >= 1; j--)
        {
            var start = parent[j][end];
            spans[j - 1] = new LayerSpan(start, end);
            end = start;
        }
        return spans;
    }

    private static double[][] NewTable(int k, int L)
    {
        var t = new double[k + 1][];
        for (var j = 0; j <= k; j++)
        {
            t[j] = new double[L + 1];
            Array.Fill(t[j], double.PositiveInfinity);
        }
        return t;
    }
}
