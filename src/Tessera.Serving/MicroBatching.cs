namespace Tessera.Serving;

/// <summary>
/// How the first stage of a pipeline splits its decoding sessions into groups, so that the stages of different machines
/// work at once: while the second stage computes one group's step, the first computes the next group's. One batch of
/// every session would move through the stages together and leave each machine idle while the others compute.
/// Stages that share a machine (one host) gain nothing from it: they take turns on the same cores, and two small
/// batches cost more than one large one, so their sessions stay in one batch.
/// </summary>
public static class MicroBatching
{
    /// <summary>
    /// Groups for a pipeline: the number of machines its stages run on, judged by host (consecutive stages on one host
    /// share its cores). <paramref name="localHost"/> is the address the first stage was reached on (null: unknown,
    /// counted as a machine of its own); <paramref name="route"/> the HOST:PORT of the stages after it.
    /// </summary>
    public static int Groups(string? localHost, IReadOnlyList<string> route)
    {
        var hosts = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var groups = 0;
        if (localHost is not null)
            hosts.Add(Normalize(localHost));
        else
            groups++;
        foreach (var endpoint in route)
            hosts.Add(HostPort.TrySplit(endpoint, out var host, out _) ? Normalize(host) : endpoint);
        return groups + hosts.Count;
    }

    /// <summary>Sessions in one decoding pass of the first stage: the lane's sessions spread evenly over the groups.</summary>
    public static int SessionsPerPass(int sessions, int groups) =>
        groups <= 1 || sessions <= 1 ? int.MaxValue : (sessions + groups - 1) / groups;

    // 127.0.0.1 and ::ffff:127.0.0.1 (a dual-stack socket's view of an IPv4 peer) are one host; [::1] is ::1.
    private static string Normalize(string host)
    {
        var h = host.Trim('[', ']');
        return h.StartsWith("::ffff:", StringComparison.OrdinalIgnoreCase) && h.Contains('.') ? h[7..] : h;
    }
}
