namespace Tessera.Planner;

/// <summary>One stage of a placement the user chose: a device and the blocks it holds (see <see cref="PoolPlanner.Place"/>).</summary>
public sealed record StagePlacement(string DeviceId, LayerSpan Layers);
