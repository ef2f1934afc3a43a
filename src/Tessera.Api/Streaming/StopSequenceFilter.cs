using System.Text;
using Tessera.Generation;

namespace Tessera.Api.Streaming;

/// <summary>
/// Turns generated tokens into text that is safe to send: it cuts the text before the first stop string
/// (never sending the stop string itself) and holds back a tail that might be the start of a stop string
/// until the next token decides. Tokens are released with the text, each once, when all of its text has
/// been released (or, at a stop, when any of it was). Pure: no I/O, no clock.
/// </summary>
public sealed class StopSequenceFilter
{
    private readonly string[] _stops;
    private readonly StringBuilder _pending = new();
    private readonly List<(GeneratedToken Token, int End)> _pendingTokens = [];
    private int _released;

    public StopSequenceFilter(IReadOnlyList<string> stops)
    {
        _stops = stops.Where(s => s.Length > 0).Distinct(StringComparer.Ordinal).ToArray();
    }

    /// <summary>True once a stop string was found; later tokens are ignored.</summary>
    public bool Stopped { get; private set; }

    /// <summary>Adds a token; returns the text and tokens that can be sent now.</summary>
    public Release Push(GeneratedToken token)
    {
        if (Stopped)
            return Release.Empty;
        var searchFrom = Math.Max(0, _pending.Length - MaxStopLength + 1);
        _pending.Append(token.Text);
        _pendingTokens.Add((token, _pending.Length));
        if (_stops.Length == 0)
            return TakeUpTo(_pending.Length, partialTokens: false);

        var text = _pending.ToString();
        var cut = -1;
        foreach (var stop in _stops)
        {
            var at = text.IndexOf(stop, Math.Min(Math.Max(searchFrom, _released), text.Length), StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut))
                cut = at;
        }
        if (cut >= 0)
        {
            Stopped = true;
            var release = TakeUpTo(cut, partialTokens: true);
            _pending.Clear();
            _pendingTokens.Clear();
            return release;
        }
        return TakeUpTo(text.Length - HeldBack(text), partialTokens: false);
    }

    /// <summary>At the end of generation: everything still held back (no stop string can complete now).</summary>
    public Release Flush()
    {
        if (Stopped)
            return Release.Empty;
        var release = TakeUpTo(_pending.Length, partialTokens: true);
        _pending.Clear();
        _pendingTokens.Clear();
        _released = 0;
        return release;
    }

    private int MaxStopLength => _stops.Length == 0 ? 1 : _stops.Max(s => s.Length);

    /// <summary>Length of the longest tail of <paramref name="text"/> that is a proper prefix of a stop string.</summary>
    private int HeldBack(string text)
    {
        var hold = 0;
        foreach (var stop in _stops)
        {
            for (var k = Math.Min(stop.Length - 1, text.Length); k > hold; k--)
            {
                if (text.AsSpan(text.Length - k).SequenceEqual(stop.AsSpan(0, k)))
                {
                    hold = k;
                    break;
                }
            }
        }
        return hold;
    }

    /// <summary>Releases pending text up to <paramref name="end"/> (an offset in the pending buffer).</summary>
    private Release TakeUpTo(int end, bool partialTokens)
    {
        var text = end > _released ? _pending.ToString(_released, end - _released) : string.Empty;
        List<GeneratedToken>? tokens = null;
        var taken = 0;
        var start = 0;
        foreach (var (token, tokenEnd) in _pendingTokens)
        {
            var complete = tokenEnd <= end;
            var partial = partialTokens && start < end;
            if (!complete && !partial)
                break;
            (tokens ??= []).Add(token);
            taken++;
            start = tokenEnd;
        }
        if (end > _released)
            _released = end;
        if (taken > 0)
        {
            // Drop released text and tokens from the buffer so it stays short.
            var drop = Math.Min(_pendingTokens[taken - 1].End, _released);
            _pendingTokens.RemoveRange(0, taken);
            for (var i = 0; i < _pendingTokens.Count; i++)
                _pendingTokens[i] = (_pendingTokens[i].Token, _pendingTokens[i].End - drop);
            _pending.Remove(0, drop);
            _released -= drop;
        }
        return tokens is null && text.Length == 0 ? Release.Empty : new Release(text, (IReadOnlyList<GeneratedToken>?)tokens ?? []);
    }

    /// <summary>Text that can be sent and the tokens it completes (for log-probabilities).</summary>
    public readonly record struct Release(string Text, IReadOnlyList<GeneratedToken> Tokens)
    {
        public static Release Empty { get; } = new(string.Empty, []);

        public bool IsEmpty => Text.Length == 0 && Tokens.Count == 0;
    }
}
