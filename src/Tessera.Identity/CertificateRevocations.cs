using System.Collections.Frozen;

namespace Tessera.Identity;

/// <summary>
/// Certificates of the pool that no longer count: those of removed nodes, by SHA-256 fingerprint
/// (<see cref="CertificateChecks.Fingerprint"/>). The coordinator keeps the list and sends all of it to every agent
/// whenever it changes and when an agent connects; every server that accepts node certificates (stages, the
/// coordinator's model store) consults it, so a removed node loses its access within a control-stream round trip.
/// Thread-safe; readers never lock.
/// </summary>
public sealed class CertificateRevocations
{
    private FrozenSet<string> _fingerprints = FrozenSet<string>.Empty;

    /// <summary>Raised after the list changed (on the thread that changed it).</summary>
    public event Action? Changed;

    public int Count => _fingerprints.Count;

    public IReadOnlyCollection<string> Fingerprints => _fingerprints;

    public bool IsRevoked(string fingerprint) => _fingerprints.Contains(fingerprint);

    /// <summary>Replaces the whole list (what the coordinator sends); raises <see cref="Changed"/> when it differs.</summary>
    public void Replace(IEnumerable<string> fingerprints)
    {
        var next = fingerprints.Select(f => f.ToLowerInvariant()).ToFrozenSet(StringComparer.Ordinal);
        var previous = Interlocked.Exchange(ref _fingerprints, next);
        if (!previous.SetEquals(next))
            Changed?.Invoke();
    }
}
