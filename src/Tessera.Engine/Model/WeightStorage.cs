namespace Tessera.Engine.Model;

/// <summary>Where a stage's matrices live while it runs.</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<WeightStorage>))]
public enum WeightStorage
{
    /// <summary><see cref="Copy"/>, unless the environment variable <c>TESSERA_WEIGHTS=map</c> says otherwise.</summary>
    Auto,

    /// <summary>
    /// Copied at load into native memory on huge pages (<see cref="Tensors.WeightArena"/>): decode runs faster; the
    /// file's pages stay only in the reclaimable page cache.
    /// </summary>
    Copy,

    /// <summary>Read straight from the file's memory map (no copy, 4 KiB pages): for machines short of memory.</summary>
    Map,
}

/// <summary>Resolves <see cref="WeightStorage.Auto"/>.</summary>
public static class WeightStorages
{
    /// <summary>The storage <paramref name="storage"/> means on this machine.</summary>
    public static WeightStorage Resolve(WeightStorage storage) => storage switch
    {
        WeightStorage.Auto => string.Equals(Environment.GetEnvironmentVariable("TESSERA_WEIGHTS"), "map", StringComparison.OrdinalIgnoreCase)
            ? WeightStorage.Map
            : WeightStorage.Copy,
        _ => storage,
    };
}
