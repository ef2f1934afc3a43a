using Tessera.Generation;

namespace Tessera.Serving;

/// <summary>
/// A model served through a pipeline of stages that can break and move: what the deployment controller needs of a
/// <see cref="PipelineGenerationService"/> (and what its tests substitute).
/// </summary>
public interface IPipelineService : ITextGenerationService, ITokenDecoder, IAsyncDisposable
{
    /// <summary>Why the pipeline stopped working for good (its recovery gave up), or null while it works.</summary>
    string? Failure { get; }

    /// <summary>The stages in use now, in pipeline order.</summary>
    IReadOnlyList<string> Endpoints { get; }

    /// <summary>Sessions generating now (paused ones included).</summary>
    int ActiveSessions { get; }

    /// <summary>Recoveries and planned moves so far and the pauses they caused.</summary>
    PipelineRecoveryStatistics RecoveryStatistics { get; }

    /// <summary>A planned switch to the pipeline at <paramref name="endpoints"/> (see <see cref="PipelineDriver.MoveToAsync"/>).</summary>
    Task<bool> MoveToAsync(IReadOnlyList<string> endpoints, CancellationToken cancellation);
}
