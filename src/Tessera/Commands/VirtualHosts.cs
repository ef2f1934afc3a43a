using System.Diagnostics;
using System.Globalization;
using Tessera.Pool;

namespace Tessera.Cli.Commands;

/// <summary>
/// Hosts with their own addresses on one LAN: a Linux bridge in this (root) network namespace carries the
/// coordinator's address, and each host is a network namespace joined to the bridge by a veth pair. Every host reaches
/// the coordinator and every other host; <see cref="Cut"/> cuts the link between two hosts only (a blackhole route on
/// each side, so packets between them vanish as on a dead cable) while both still reach the coordinator.
/// Needs root and iproute2 (<see cref="Unavailable"/> says why not); everything is removed on dispose. `tessera chaos
/// --namespaces` runs its agents on such hosts to cut links between them; the namespace tests use it the same way.
/// </summary>
internal sealed class VirtualHosts : IDisposable
{
    private readonly string _suffix = Random.Shared.Next(0x100000, 0xFFFFFF).ToString("x6", CultureInfo.InvariantCulture);
    private readonly int _subnet = Random.Shared.Next(1, 250);
    private readonly List<string> _hosts = [];
    private readonly HashSet<string> _natted = [];
    private bool _bridge;

    /// <param name="hosts">The hosts, each on the LAN with an address of its own.</param>
    /// <param name="behindNat">
    /// Hosts that sit behind a home router instead: a router namespace holds the host's LAN address and masquerades the
    /// host's own traffic (from a private 172.30.x.0/24 network) out of it, and drops every connection that starts on the
    /// LAN side, so the host reaches everyone and nobody reaches it. Needs iptables (<see cref="NatUnavailable"/>).
    /// </param>
    public VirtualHosts(IEnumerable<string> hosts, IEnumerable<string>? behindNat = null)
    {
        try
        {
            Ip("link", "add", Bridge, "type", "bridge");
            _bridge = true;
            Ip("addr", "add", CoordinatorIp + "/24", "dev", Bridge);
            Ip("link", "set", Bridge, "up");
            _natted.UnionWith(behindNat ?? []);
            foreach (var host in hosts)
            {
                if (_natted.Contains(host))
                    AddBehindNat(host);
                else
                    Add(host);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The coordinator's address (on the bridge, in this namespace).</summary>
    public string CoordinatorIp => $"10.215.{_subnet}.1";

    private string Bridge => "tsrb" + _suffix;

    public string NamespaceOf(string host) => $"tsr-h{Index(host)}-{_suffix}";

    /// <summary>The host's address on the LAN (for a host behind NAT, its router's: where its connections come from).</summary>
    public string IpOf(string host) => $"10.215.{_subnet}.{Index(host) + 2}";

    private string RouterOf(string host) => $"tsr-r{Index(host)}-{_suffix}";

    private int Index(string host) => _hosts.IndexOf(host) is >= 0 and var i ? i : throw new ArgumentException($"No host {host}.", nameof(host));

    /// <summary>Cuts the link between two hosts in both directions; each still reaches the coordinator and the others.</summary>
    public void Cut(string a, string b)
    {
        Ip("-n", NamespaceOf(a), "route", "add", "blackhole", IpOf(b) + "/32");
        Ip("-n", NamespaceOf(b), "route", "add", "blackhole", IpOf(a) + "/32");
    }

    /// <summary>Undoes <see cref="Cut"/>: packets between the two hosts flow again (connections that gave up stay closed).</summary>
    public void Restore(string a, string b)
    {
        Ip("-n", NamespaceOf(a), "route", "del", "blackhole", IpOf(b) + "/32");
        Ip("-n", NamespaceOf(b), "route", "del", "blackhole", IpOf(a) + "/32");
    }

    /// <summary>
    /// Cuts <paramref name="host"/> off from the coordinator both ways (a blackhole route in its namespace and one in this
    /// one): its control stream and the coordinator's stage traffic to it vanish, while it still reaches the other hosts.
    /// </summary>
    public void CutFromCoordinator(string host)
    {
        Ip("-n", NamespaceOf(host), "route", "add", "blackhole", CoordinatorIp + "/32");
        Ip("route", "add", "blackhole", IpOf(host) + "/32");
        _cutFromCoordinator.Add(host);
    }

    /// <summary>Undoes <see cref="CutFromCoordinator"/>.</summary>
    public void RestoreToCoordinator(string host)
    {
        _cutFromCoordinator.Remove(host);
        Ip("route", "del", "blackhole", IpOf(host) + "/32");
        Ip("-n", NamespaceOf(host), "route", "del", "blackhole", CoordinatorIp + "/32");
    }

    // Routes in this namespace outlive the bridge: dispose removes any a caller did not restore.
    private readonly HashSet<string> _cutFromCoordinator = [];

    /// <summary>Why hosts cannot be built here (not Linux, not root, no `ip`, namespaces refused), or null when they can.</summary>
    public static string? Unavailable()
    {
        if (!OperatingSystem.IsLinux())
            return "network namespaces need Linux";
        if (Environment.UserName != "root" && Environment.GetEnvironmentVariable("USER") != "root")
            return "network namespaces need root";
        if (!new[] { "/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip" }.Any(File.Exists))
            return "the `ip` tool (iproute2) is not installed";
        var name = "tsr-probe-" + Environment.ProcessId;
        var (ok, error) = Run("ip", "netns", "add", name);
        Run("ip", "netns", "del", name);
        return ok ? null : "cannot create a network namespace here: " + error;
    }

    /// <summary>
    /// Limits what <paramref name="from"/> sends to <paramref name="to"/> (and only that) to <paramref name="megabitsPerSecond"/>
    /// (an htb class and a u32 filter on the host's side of its veth); call it both ways for a symmetric link. Kernels
    /// without sch_netem (this project's machines) cannot delay packets, but htb limits rate everywhere.
    /// </summary>
    public void Limit(string from, string to, double megabitsPerSecond)
    {
        var ns = NamespaceOf(from);
        var dev = $"tsp{Index(from)}{_suffix}";
        if (_limited.Add(from))
        {
            Tc("-n", ns, "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "1", "r2q", "100000");
            Tc("-n", ns, "class", "add", "dev", dev, "parent", "1:", "classid", "1:1", "htb", "rate", "10gbit");
        }
        var classId = $"1:{10 + Index(to)}";
        Tc("-n", ns, "class", "add", "dev", dev, "parent", "1:", "classid", classId, "htb", "rate", $"{megabitsPerSecond * 1000:0}kbit");
        Tc("-n", ns, "filter", "add", "dev", dev, "protocol", "ip", "parent", "1:0", "prio", "1", "u32", "match", "ip", "dst", IpOf(to) + "/32", "flowid", classId);
    }

    private readonly HashSet<string> _limited = [];

    /// <summary>
    /// Makes <paramref name="host"/>'s link to the LAN a <paramref name="megabitsPerSecond"/> one each way, whoever is at
    /// the other end: a token bucket (tbf) on both ends of its veth, the host's end for what it sends and the bridge's
    /// end for what it receives. For a host on the LAN (not behind NAT).
    /// </summary>
    public void Shape(string host, double megabitsPerSecond)
    {
        var i = Index(host);
        if (_natted.Contains(host))
            throw new ArgumentException($"{host} is behind NAT; shape hosts on the LAN.", nameof(host));
        string[] tbf = ["root", "tbf", "rate", $"{megabitsPerSecond * 1000:0}kbit", "burst", "64kb", "latency", "50ms"];
        Tc(["qdisc", "add", "dev", $"tsh{i}{_suffix}", .. tbf]);
        Tc(["-n", NamespaceOf(host), "qdisc", "add", "dev", $"tsp{i}{_suffix}", .. tbf]);
    }

    /// <summary>
    /// Makes the link between <paramref name="a"/> and <paramref name="b"/> slow and jittery (a round trip of about
    /// <paramref name="delay"/> ± <paramref name="jitter"/>) without netem (see <see cref="EmulateLinks"/>): the two
    /// emulators to run, one in each host.
    /// </summary>
    public IReadOnlyList<(string Namespace, string[] Arguments)> EmulateLink(string a, string b, TimeSpan delay, TimeSpan jitter, int port = 47_990) =>
        [EmulateLinks(a, [b], delay, jitter, port), EmulateLinks(b, [a], delay, jitter, port)];

    /// <summary>
    /// Makes <paramref name="host"/>'s connections to <paramref name="peers"/> slow and jittery (a round trip of about
    /// <paramref name="delay"/> ± <paramref name="jitter"/>) without netem: an iptables rule in its namespace redirects
    /// them into a <see cref="Chaos.LinkEmulator"/> on <paramref name="port"/>. Returns the emulator to run there, as
    /// the namespace and the arguments of <c>tessera</c> (the caller starts and stops it); connections the peers open
    /// need the same on their side. The host still reaches the coordinator and other hosts directly.
    /// </summary>
    public (string Namespace, string[] Arguments) EmulateLinks(string host, IEnumerable<string> peers, TimeSpan delay, TimeSpan jitter, int port = 47_990)
    {
        var ns = NamespaceOf(host);
        foreach (var peer in peers)
        {
            Exec(ns, "iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", IpOf(peer) + "/32", "-m", "mark", "!", "--mark",
                Chaos.LinkEmulator.Mark.ToString(CultureInfo.InvariantCulture), "-j", "REDIRECT", "--to-ports", port.ToString(CultureInfo.InvariantCulture));
        }
        return (ns, ["chaos", "emulate-link", "--port", port.ToString(CultureInfo.InvariantCulture),
            "--delay-ms", delay.TotalMilliseconds.ToString(CultureInfo.InvariantCulture), "--jitter-ms", jitter.TotalMilliseconds.ToString(CultureInfo.InvariantCulture),
            "--seed", (Index(host) + 1).ToString(CultureInfo.InvariantCulture)]);
    }

    private static void Tc(params string[] args)
    {
        var (ok, error) = Run(["tc", .. args]);
        if (!ok)
            throw new PoolException($"tc {string.Join(' ', args)}: {error}");
    }

    /// <summary>
    /// The host in a namespace of its own on a private network, behind a router namespace on the LAN that masquerades
    /// its outgoing connections and drops incoming ones (conntrack lets only replies through).
    /// </summary>
    private void AddBehindNat(string host)
    {
        _hosts.Add(host);
        var i = _hosts.Count - 1;
        string ns = NamespaceOf(host), router = RouterOf(host);
        string bridgeSide = $"tsh{i}{_suffix}", lan = $"tsq{i}{_suffix}", inside = $"tsp{i}{_suffix}", routerInside = $"tsn{i}{_suffix}";
        string privateNet = $"172.30.{i}", privateRouter = privateNet + ".1";
        OnLan(router, bridgeSide, lan, IpOf(host));
        Ip("netns", "add", ns);
        Ip("-n", ns, "link", "set", "lo", "up");
        Ip("-n", router, "link", "add", routerInside, "type", "veth", "peer", "name", inside);
        Ip("-n", router, "link", "set", inside, "netns", ns);
        Ip("-n", router, "addr", "add", privateRouter + "/24", "dev", routerInside);
        Ip("-n", router, "link", "set", routerInside, "up");
        Ip("-n", ns, "addr", "add", privateNet + ".2/24", "dev", inside);
        Ip("-n", ns, "link", "set", inside, "up");
        Ip("-n", ns, "route", "add", "default", "via", privateRouter);
        Exec(router, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward");
        Exec(router, "iptables", "-t", "nat", "-A", "POSTROUTING", "-s", privateNet + ".0/24", "-o", lan, "-j", "MASQUERADE");
        Exec(router, "iptables", "-A", "FORWARD", "-i", lan, "-o", routerInside, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT");
        Exec(router, "iptables", "-A", "FORWARD", "-i", lan, "-o", routerInside, "-j", "DROP");
    }

    private static void Exec(string ns, params string[] args) => Ip(["netns", "exec", ns, .. args]);

    /// <summary>Why hosts behind NAT cannot be built here (besides <see cref="Unavailable"/>: no iptables, or no NAT in this kernel), or null when they can.</summary>
    public static string? NatUnavailable()
    {
        if (Unavailable() is { } reason)
            return reason;
        if (!new[] { "/usr/sbin/iptables", "/sbin/iptables", "/usr/bin/iptables" }.Any(File.Exists))
            return "iptables is not installed (apt-get install iptables)";
        var name = "tsr-nat-" + Environment.ProcessId;
        Run("ip", "netns", "add", name);
        var (ok, error) = Run("ip", "netns", "exec", name, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "lo", "-j", "MASQUERADE");
        Run("ip", "netns", "del", name);
        return ok ? null : "this kernel cannot masquerade in a network namespace: " + error;
    }

    private void Add(string host)
    {
        _hosts.Add(host);
        var i = _hosts.Count - 1;
        OnLan(NamespaceOf(host), $"tsh{i}{_suffix}", $"tsp{i}{_suffix}", IpOf(host));
    }

    /// <summary>A new namespace joined to the LAN bridge by a veth pair (<paramref name="inside"/> in it), with <paramref name="address"/>.</summary>
    private void OnLan(string ns, string outside, string inside, string address)
    {
        Ip("netns", "add", ns);
        Ip("-n", ns, "link", "set", "lo", "up");
        Ip("link", "add", outside, "type", "veth", "peer", "name", inside);
        Ip("link", "set", inside, "netns", ns);
        Ip("link", "set", outside, "master", Bridge);
        Ip("link", "set", outside, "up");
        Ip("-n", ns, "addr", "add", address + "/24", "dev", inside);
        Ip("-n", ns, "link", "set", inside, "up");
    }

    private static void Ip(params string[] args)
    {
        var (ok, error) = Run(["ip", .. args]);
        if (!ok)
            throw new PoolException($"ip {string.Join(' ', args)}: {error}");
    }

    public void Dispose()
    {
        foreach (var host in _cutFromCoordinator)
            Run("ip", "route", "del", "blackhole", IpOf(host) + "/32");
        _cutFromCoordinator.Clear();
        // Deleting a namespace deletes its end of the veth pair, and with it the other end.
        for (var i = 0; i < _hosts.Count; i++)
        {
            Run("ip", "netns", "del", NamespaceOf(_hosts[i]));
            if (_natted.Contains(_hosts[i]))
                Run("ip", "netns", "del", RouterOf(_hosts[i]));
        }
        if (_bridge)
            Run("ip", "link", "del", Bridge);
        _hosts.Clear();
        _bridge = false;
    }

    /// <summary>Runs a tool to its end (10 s at most); whether it succeeded and what it wrote to stderr.</summary>
    internal static (bool Ok, string Error) Run(params string[] args)
    {
        var start = new ProcessStartInfo(args[0]) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args.Skip(1))
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEnd();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit(10_000);
        return (process.ExitCode == 0, error.Trim());
    }
}
