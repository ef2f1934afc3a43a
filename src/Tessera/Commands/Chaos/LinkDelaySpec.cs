using Tessera.Pool;
using Tessera.Pool.Security;

namespace Tessera.Cli.Commands.Chaos;

/// <summary>A link's emulated round trip and jitter as the command line writes it: <c>40ms</c> or <c>40ms:20ms</c>.</summary>
internal static class LinkDelaySpec
{
    public const string Rule = "DELAY or DELAY:JITTER, e.g. 40ms:20ms, with the delay at most 2s and the jitter at most the delay";

    /// <summary>The delay and jitter, or null when <paramref name="text"/> breaks <see cref="Rule"/>.</summary>
    public static (TimeSpan Delay, TimeSpan Jitter)? TryParse(string text)
    {
        var parts = text.Split(':');
        if (parts.Length is not (1 or 2))
            return null;
        try
        {
            var delay = DurationParser.Parse(parts[0]);
            var jitter = parts.Length > 1 ? DurationParser.Parse(parts[1]) : TimeSpan.Zero;
            return delay <= TimeSpan.FromSeconds(2) && jitter <= delay ? (delay, jitter) : null;
        }
        catch (PoolException)
        {
            return null;
        }
    }
}
