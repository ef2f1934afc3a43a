using Tessera.Cli.Commands;

namespace Tessera.Tests.Pool;

/// <summary>A test that needs Linux network namespaces: skipped, with the reason, when not root, without `ip`, or when namespaces cannot be created.</summary>
public sealed class NetworkNamespaceFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> Reason = new(() => VirtualHosts.Unavailable() is { } reason ? reason + " (CI runs as root)" : null);

    private static readonly Lazy<string?> NatReason = new(() => VirtualHosts.NatUnavailable() is { } reason ? reason + " (CI runs as root and installs iptables)" : null);

    public NetworkNamespaceFactAttribute()
    {
        if (Reason.Value is { } reason)
            Skip = reason;
    }

    /// <summary>The test puts a host behind NAT: skipped also where iptables or masquerading are missing.</summary>
    public bool BehindNat
    {
        get => _behindNat;
        set
        {
            _behindNat = value;
            if (value && NatReason.Value is { } reason)
                Skip = reason;
        }
    }

    private bool _behindNat;

    /// <summary>Why tests with hosts behind NAT are skipped here, or null when they run.</summary>
    public static string? NatSkipReason => NatReason.Value;

    /// <summary>Why namespace tests are skipped here, or null when they run (fixtures check it before building networks).</summary>
    public static string? SkipReason => Reason.Value;

    internal static (bool Ok, string Error) Run(params string[] args) => VirtualHosts.Run(args);
}
