using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Tessera.Identity;

namespace Tessera.Pool.Dashboard;

/// <summary>A signed-in browser: the CSRF token its page must echo on every action, and when it lapses.</summary>
public sealed record DashboardSession(string Csrf, DateTimeOffset ExpiresAt);

/// <summary>
/// The dashboard's sign-ins, in memory: a browser that gave the admin key gets a random session id (its cookie) and a
/// CSRF token. Only the ids' hashes are kept, so a lookup's timing says nothing about a stored id. Sessions lapse
/// after <see cref="IdleLifetime"/> without a request, and all end when the admin key is rotated or the coordinator
/// restarts (sign in again).
/// </summary>
public sealed class DashboardSessions(TimeProvider time)
{
    public const string CookieName = "tessera_session";
    public const string CsrfHeader = "X-Tessera-CSRF";
    public static readonly TimeSpan IdleLifetime = TimeSpan.FromHours(12);

    /// <summary>Sign-ins kept at most; the oldest is dropped beyond it.</summary>
    public const int MaxSessions = 1000;

    private readonly ConcurrentDictionary<string, DashboardSession> _sessions = new(StringComparer.Ordinal);

    /// <summary>A new session: the cookie's value (shown once) and the session.</summary>
    public (string Id, DashboardSession Session) Create()
    {
        if (_sessions.Count >= MaxSessions)
            DropOldest();
        var id = Secrets.NewSecret();
        var session = new DashboardSession(Secrets.NewSecret(), time.GetUtcNow() + IdleLifetime);
        _sessions[Secrets.Hash(id)] = session;
        return (id, session);
    }

    /// <summary>The live session of cookie value <paramref name="id"/>, its lifetime renewed; null when unknown or lapsed.</summary>
    public DashboardSession? Find(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > 128)
            return null;
        var key = Secrets.Hash(id);
        if (!_sessions.TryGetValue(key, out var session))
            return null;
        var now = time.GetUtcNow();
        if (session.ExpiresAt <= now)
        {
            _sessions.TryRemove(key, out _);
            return null;
        }
        var renewed = session with { ExpiresAt = now + IdleLifetime };
        _sessions.TryUpdate(key, renewed, session);
        return renewed;
    }

    /// <summary>Whether <paramref name="sent"/> is <paramref name="session"/>'s CSRF token (compared in constant time).</summary>
    public static bool CsrfMatches(DashboardSession session, string? sent) =>
        sent is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(session.Csrf), Encoding.UTF8.GetBytes(sent));

    public void End(string? id)
    {
        if (!string.IsNullOrEmpty(id))
            _sessions.TryRemove(Secrets.Hash(id), out _);
    }

    /// <summary>Ends every session (the admin key changed).</summary>
    public void EndAll() => _sessions.Clear();

    private void DropOldest()
    {
        var oldest = _sessions.OrderBy(s => s.Value.ExpiresAt).Take(_sessions.Count - MaxSessions + 1).Select(s => s.Key).ToList();
        foreach (var key in oldest)
            _sessions.TryRemove(key, out _);
    }
}
