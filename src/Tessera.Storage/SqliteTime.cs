namespace Tessera.Storage;

/// <summary>Instants as the pool's tables store them: Unix milliseconds.</summary>
public static class SqliteTime
{
    public static long ToMs(DateTimeOffset at) => at.ToUnixTimeMilliseconds();

    public static DateTimeOffset FromMs(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);
}
