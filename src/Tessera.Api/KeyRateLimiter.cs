using System.Collections.Concurrent;

namespace Tessera.Api;

/// <summary>
/// Each key's request rate (<see cref="ApiKeyGrant.RequestsPerMinute"/>), as a token bucket: a key may burst up to its
/// per-minute rate, then gets one request per 60/rate seconds. No clock of its own.
/// </summary>
internal sealed class KeyRateLimiter(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);

    /// <summary>Null when <paramref name="grant"/>'s key may make a request now (and counts it); otherwise how long to wait.</summary>
    public TimeSpan? TryTake(ApiKeyGrant grant)
    {
        if (grant is not { KeyId: { } id, RequestsPerMinute: { } rate })
            return null;
        var bucket = _buckets.GetOrAdd(id, _ => new Bucket(rate, time.GetTimestamp()));
        lock (bucket)
        {
            var now = time.GetTimestamp();
            var perSecond = rate / 60.0;
            bucket.Tokens = Math.Min(rate, bucket.Tokens + time.GetElapsedTime(bucket.At, now).TotalSeconds * perSecond);
            bucket.At = now;
            if (bucket.Tokens >= 1)
            {
                bucket.Tokens -= 1;
                return null;
            }
            return TimeSpan.FromSeconds((1 - bucket.Tokens) / perSecond);
        }
    }

    private sealed class Bucket(double tokens, long at)
    {
        public double Tokens { get; set; } = tokens;

        public long At { get; set; } = at;
    }
}
