using Tessera.Planner.Internal;

namespace Tessera.Planner;

/// <summary>Layers that change device in a re-plan, with the bytes that must reach the new device.</summary>
/// <param name="Replica">Which pipeline.</param>
/// <param name="Layers">The layers moved.</param>
/// <param name="FromDeviceId">Where they were (a lost device's weights come from the model cache instead).</param>
/// <param name="ToDeviceId">Where they go.</param>
/// <param name="Bytes">Weight bytes to load there (including the embedding or head when they move with the layers).</param>
public sealed record LayerMove(int Replica, LayerSpan Layers, string FromDeviceId, string ToDeviceId, long Bytes)
{
    public override string ToString() => $"layers {Layers} ({Layers.Count}) {FromDeviceId} -> {ToDeviceId}, {Internal.Bytes.Format(Bytes)}";
}
