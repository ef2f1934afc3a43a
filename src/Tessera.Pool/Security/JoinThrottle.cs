using System.Collections.Concurrent;

namespace Tessera.Pool.Security;

/// <summary>
/// Slows down guessing at join tokens: a source address that failed <see cref="MaxFailures"/> join attempts within
/// <see cref="Window"/> is refused every attempt until the window has passed since its first failure. Valid joins
/// never count, so a lab joining hundreds of machines from one address goes through. No clock of its own; memory is
/// bounded by forgetting windows that have passed.
/// </summary>
public sealed class JoinThrottle(TimeProvider time)
{
    public const int MaxFailures = 10;

    public static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    /// <summary>Sources remembered at most; beyond it, passed windows are forgotten first.</summary>
    private const int MaxSources = 10_000;

    private readonly ConcurrentDictionary<string, (DateTimeOffset Since, int Failures)> _failures = new(StringComparer.Ordinal);

    /// <summary>Null when <paramref name="source"/> may try to join now; otherwise how long it must wait.</summary>
    public TimeSpan? RetryAfter(string source)
    {
        if (!_failures.TryGetValue(source, out var entry))
            return null;
        var left = entry.Since + Window - time.GetUtcNow();
        if (left <= TimeSpan.Zero)
        {
            _failures.TryRemove(new KeyValuePair<string, (DateTimeOffset, int)>(source, entry));
            return null;
        }
        return entry.Failures >= MaxFailures ? left : null;
    }

    /// <summary>Counts a refused join attempt from <paramref name="source"/>.</summary>
    public void Failed(string source)
    {
        var now = time.GetUtcNow();
        if (_failures.Count >= MaxSources)
        {
            foreach (var (key, entry) in _failures)
            {
                if (entry.Since + Window <= now)
                    _failures.TryRemove(key, out _);
            }
        }
        _failures.AddOrUpdate(source, _ => (now, 1), (_, e) => e.Since + Window <= now ? (now, 1) : (e.Since, e.Failures + 1));
    }
}
