using System.Net;

namespace Tessera.Deploy;

/// <summary>Where others dial a stage. Pure.</summary>
internal static class StageEndpoints
{
    /// <summary>
    /// An endpoint others can dial: a stage listening on any address is reached at the address its node connects from
    /// (<paramref name="nodeAddress"/>); a node on the coordinator's own machine connects from loopback, and peers
    /// elsewhere reach it at the coordinator's advertised address (<paramref name="coordinatorAddress"/>, HOST:PORT).
    /// </summary>
    public static string Peer(string endpoint, string? nodeAddress, string coordinatorAddress)
    {
        if (!IPEndPoint.TryParse(endpoint, out var parsed))
            return endpoint;
        if (!parsed.Address.Equals(IPAddress.Any) && !parsed.Address.Equals(IPAddress.IPv6Any))
            return endpoint;
        if (string.IsNullOrEmpty(nodeAddress) || !IPAddress.TryParse(nodeAddress, out var ip))
            ip = IPAddress.Loopback;
        if (IPAddress.IsLoopback(ip) && IPEndPoint.TryParse(coordinatorAddress, out var advertised) && !IPAddress.IsLoopback(advertised.Address))
            ip = advertised.Address;
        return new IPEndPoint(ip, parsed.Port).ToString();
    }
}
