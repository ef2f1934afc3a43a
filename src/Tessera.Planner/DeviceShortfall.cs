using Tessera.Planner.Internal;

namespace Tessera.Planner;

/// <summary>A place where memory is missing: what needed it, which device came closest, and by how much it falls short.</summary>
/// <param name="What">What needs the memory, e.g. "layer 31 with the output head".</param>
/// <param name="DeviceId">The device that came closest (null when the pool has none usable).</param>
/// <param name="NodeName">Its node.</param>
/// <param name="NeededBytes">Memory needed.</param>
/// <param name="AvailableBytes">Memory the device can give (free less headroom).</param>
public sealed record DeviceShortfall(string What, string? DeviceId, string? NodeName, long NeededBytes, long AvailableBytes)
{
    public long MissingBytes => Math.Max(0, NeededBytes - AvailableBytes);

    public override string ToString() => DeviceId is null
        ? $"{What} needs {Bytes.Format(NeededBytes)}: no usable device"
        : $"{What} needs {Bytes.Format(NeededBytes)}, the largest device ({DeviceId} on {NodeName}) has {Bytes.Format(AvailableBytes)}: missing {Bytes.Format(MissingBytes)}";
}
