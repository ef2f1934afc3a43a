namespace Tessera.Generation;

/// <summary>
/// What a generation service holds now, per model it serves: the figures a host exports as gauges (queue depth, active
/// sessions, KV cache use). Read when metrics are scraped, so an implementation answers from what it keeps anyway,
/// under its own lock at most, and never waits on a generation.
/// </summary>
public interface IGenerationLoad
{
    /// <summary>One entry per model this service serves now.</summary>
    IReadOnlyList<ModelLoad> Load();
}

/// <summary>One model's load.</summary>
/// <param name="Model">The id clients use.</param>
/// <param name="ActiveSessions">Sessions generating now (a pipeline's paused sessions included).</param>
/// <param name="QueuedSessions">Requests waiting for a session slot.</param>
/// <param name="KvCachePositions">
/// Positions held in KV caches in this process; null where the caches live elsewhere (a pipeline's stages report their own).
/// </param>
/// <param name="KvCacheCapacityPositions">The most positions those caches may hold (sessions at once times the context); null likewise.</param>
public readonly record struct ModelLoad(string Model, int ActiveSessions, int QueuedSessions, long? KvCachePositions = null, long? KvCacheCapacityPositions = null);
