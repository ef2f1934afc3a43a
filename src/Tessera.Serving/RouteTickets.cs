using System.Security.Cryptography;
using Google.Protobuf;
using Tessera.Serving.Protocol;

namespace Tessera.Serving;

/// <summary>
/// Route tickets: the coordinator's permission for one lane to run the length of a pipeline. A ticket names the
/// deployment, every stage's endpoint in order and an expiry, and carries an HMAC-SHA256 under the deployment's route
/// key, which only the coordinator and the deployment's own stages hold. A stage started with the key opens a lane
/// only with a valid ticket whose endpoints end with the lane's route, so nobody else can open sessions on it and no
/// caller can send its lanes anywhere the plan does not name.
/// </summary>
public static class RouteTickets
{
    /// <summary>How long a ticket opens lanes (lanes opened with it live on): a driver stamps a fresh one per lane.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(10);

    /// <summary>How far the stage's clock may be behind the coordinator's.</summary>
    public static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(5);

    public const int KeyBytes = 32;

    /// <summary>Puts a ticket for <paramref name="endpoints"/> (the whole pipeline) on a lane's first message.</summary>
    public static void Stamp(StageInput first, ReadOnlySpan<byte> key, string deploymentId, IReadOnlyList<string> endpoints, DateTimeOffset now)
    {
        var ticket = new RouteTicket { DeploymentId = deploymentId, ExpiresUnixMs = (now + Lifetime).ToUnixTimeMilliseconds() };
        ticket.Endpoints.Add(endpoints);
        var bytes = ticket.ToByteArray();
        first.Ticket = ByteString.CopyFrom(bytes);
        first.TicketMac = ByteString.CopyFrom(HMACSHA256.HashData(key, bytes));
    }

    /// <summary>Null when <paramref name="first"/> carries a valid ticket for its route; otherwise why not.</summary>
    public static string? Check(StageInput first, ReadOnlySpan<byte> key, DateTimeOffset now)
    {
        if (first.Ticket.IsEmpty || first.TicketMac.IsEmpty)
            return "the lane carries no route ticket: only the deployment's coordinator and stages may open lanes here";
        Span<byte> expected = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(key, first.Ticket.Span, expected);
        if (!CryptographicOperations.FixedTimeEquals(expected, first.TicketMac.Span))
            return "the route ticket is not signed for this deployment";
        RouteTicket ticket;
        try
        {
            ticket = RouteTicket.Parser.ParseFrom(first.Ticket);
        }
        catch (InvalidProtocolBufferException)
        {
            return "the route ticket is malformed";
        }
        if (now > DateTimeOffset.FromUnixTimeMilliseconds(ticket.ExpiresUnixMs) + ClockSkew)
            return "the route ticket has expired (or this machine's clock is more than 5 minutes ahead)";
        var route = first.Route;
        var endpoints = ticket.Endpoints;
        if (endpoints.Count < route.Count + 1)
            return "the lane's route is longer than its ticket allows";
        var offset = endpoints.Count - route.Count;
        for (var i = 0; i < route.Count; i++)
        {
            if (!string.Equals(endpoints[offset + i], route[i], StringComparison.Ordinal))
                return $"the route names {route[i]}, which its ticket does not allow";
        }
        return null;
    }
}

/// <summary>Stamps the lanes a driver opens with tickets for one deployment (the coordinator's side of <see cref="RouteTickets"/>).</summary>
public sealed class RouteTicketIssuer(byte[] key, string deploymentId, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public string DeploymentId { get; } = deploymentId;

    public void Stamp(StageInput first, IReadOnlyList<string> endpoints) => RouteTickets.Stamp(first, key, DeploymentId, endpoints, _time.GetUtcNow());
}
