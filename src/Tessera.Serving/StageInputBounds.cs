using Google.Protobuf.Collections;
using Grpc.Core;
using Tessera.Serving.Protocol;

namespace Tessera.Serving;

/// <summary>
/// What one stage message may hold, checked before the stage allocates anything for it: counts of opens, work and
/// closes, every position inside the context, every token id inside the vocabulary, and routes of a sane size. A
/// message that breaks a bound is refused with InvalidArgument, which ends its lane.
/// </summary>
internal static class StageInputBounds
{
    /// <summary>Hops a route may name: far more than any pipeline has stages.</summary>
    public const int MaxRouteHops = 64;

    /// <summary>Length of one HOST:PORT in a route.</summary>
    public const int MaxEndpointLength = 256;

    /// <summary>End-of-generation tokens one session may name (models have a handful).</summary>
    public const int MaxEndTokens = 1024;

    public static void CheckRoute(RepeatedField<string> route)
    {
        if (route.Count > MaxRouteHops)
            throw Invalid($"The route names {route.Count} stages; at most {MaxRouteHops} are allowed.");
        foreach (var hop in route)
        {
            if (!IsEndpoint(hop))
                throw Invalid($"The route entry '{(hop.Length > 64 ? hop[..64] + "..." : hop)}' is not HOST:PORT (at most {MaxEndpointLength} characters).");
        }
    }

    /// <summary>HOST:PORT with a DNS name or IPv4 address, or [IPv6]:PORT, and a port from 1 to 65535: nothing a URI could read differently.</summary>
    public static bool IsEndpoint(string text)
    {
        if (text.Length is 0 or > MaxEndpointLength)
            return false;
        if (!HostPort.TrySplit(text, out var hostText, out _))
            return false;
        var host = hostText.AsSpan();
        if (host[0] == '[')
            return host.Length > 2 && host[^1] == ']' && System.Net.IPAddress.TryParse(host[1..^1], out var v6)
                && v6.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        foreach (var c in host)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '-'))
                return false;
        }
        return true;
    }

    /// <summary>Checks <paramref name="message"/>; returns the positions its work carries (the rows of its activations).</summary>
    public static long CheckMessage(StageInput message, int contextLength, int vocabularySize, int maxSessions)
    {
        if (message.Opens.Count > maxSessions)
            throw Invalid($"The message opens {message.Opens.Count} sessions; this stage holds at most {maxSessions}.");
        if (message.Closes.Count > 2 * maxSessions)
            throw Invalid($"The message closes {message.Closes.Count} sessions; this stage holds at most {maxSessions}.");
        foreach (var open in message.Opens)
        {
            if (open.EndTokens.Count > MaxEndTokens)
                throw Invalid($"Session {open.Session} names {open.EndTokens.Count} end tokens; at most {MaxEndTokens} are allowed.");
            if (open.MaxTokens < 0)
                throw Invalid($"Session {open.Session} has a negative max_tokens ({open.MaxTokens}).");
            if (open.Pooling is < 0 or > 3)
                throw Invalid($"Session {open.Session} asks for pooling {open.Pooling}; 0 (none), 1 (mean), 2 (cls) and 3 (last) are known.");
        }
        long rows = 0;
        foreach (var w in message.Work)
        {
            var count = w.Tokens.Count;
            if (count == 0)
                throw Invalid($"Work for session {w.Session} carries no positions.");
            if (w.Start < 0 || (long)w.Start + count > contextLength)
                throw Invalid($"Work for session {w.Session} covers positions {w.Start}..{(long)w.Start + count - 1}, outside the context of {contextLength}.");
            foreach (var id in w.Tokens)
            {
                if ((uint)id >= (uint)vocabularySize)
                    throw Invalid($"Work for session {w.Session} holds token id {id}, outside the vocabulary (0..{vocabularySize - 1}).");
            }
            rows += count;
        }
        return rows;
    }

    private static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));
}
