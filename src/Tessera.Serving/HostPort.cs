using System.Globalization;

namespace Tessera.Serving;

/// <summary>The one reading of a HOST:PORT text (a DNS name, an IPv4 address or [IPv6], a colon, a port).</summary>
public static class HostPort
{
    /// <summary>
    /// Splits <paramref name="text"/> at its last colon: <paramref name="host"/> as written (brackets of an IPv6
    /// address kept) and <paramref name="port"/> from 1 to 65535. False when there is no host or no such port.
    /// </summary>
    public static bool TrySplit(string text, out string host, out int port)
    {
        host = string.Empty;
        port = 0;
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
            return false;
        host = text[..colon];
        return true;
    }
}
