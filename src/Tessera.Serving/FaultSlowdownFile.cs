using System.Globalization;

namespace Tessera.Serving;

/// <summary>
/// A fault-injection hook for tests and chaos runs, never for normal use: a text file holding a slowdown factor
/// (<c>3</c> makes every forward pass of the stages that read it three times as long; a missing, empty or unreadable file,
/// or a number of 1 or less, means full speed). The file is read at most every <see cref="RereadInterval"/>, so a test
/// slows a running stage, or lets it recover, by writing the file. Slowing compute this way is what a CPU quota does to a
/// stage, and is what the coordinator must notice from the stage's own step times (a stage that is slow only by this
/// hook measures its memory speed as fast as before).
/// </summary>
public sealed class FaultSlowdownFile
{
    /// <summary>How stale the factor may be: the file is not read again sooner.</summary>
    public static readonly TimeSpan RereadInterval = TimeSpan.FromMilliseconds(250);

    private readonly string _path;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private long _readAt;
    private double _factor = 1;
    private bool _read;

    public FaultSlowdownFile(string path, TimeProvider? time = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        _path = Path.GetFullPath(path);
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The factor the file holds now (1 when it says nothing usable).</summary>
    public double Factor()
    {
        lock (_gate)
        {
            if (_read && _time.GetElapsedTime(_readAt) < RereadInterval)
                return _factor;
            _factor = Parse(ReadOrNull());
            _readAt = _time.GetTimestamp();
            _read = true;
            return _factor;
        }
    }

    /// <summary>The factor a file's text gives: a finite number above 1, else 1 (full speed).</summary>
    public static double Parse(string? text) =>
        double.TryParse(text?.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var factor) && double.IsFinite(factor) && factor > 1 ? factor : 1;

    private string? ReadOrNull()
    {
        try
        {
            return File.ReadAllText(_path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
