using Tessera.Distribution;

namespace Tessera.Distribution.Tests;

internal static class TestData
{
    /// <summary>Deterministic pseudo-random bytes.</summary>
    public static byte[] Bytes(int length, int seed = 1)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    public static string WriteFile(TempDirectory dir, string name, byte[] data)
    {
        var path = dir.Combine(name);
        File.WriteAllBytes(path, data);
        return path;
    }

    public static async Task<ContentHash> PublishAsync(ContentStore store, TempDirectory dir, byte[] data)
    {
        var path = WriteFile(dir, Guid.NewGuid().ToString("N"), data);
        return await store.ImportAsync(path);
    }
}

/// <summary>A clock the test moves by hand.</summary>
internal sealed class ManualTimeProvider : TimeProvider
{
    private DateTimeOffset _now = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}
