using Microsoft.Extensions.Logging;

namespace Tessera.Serving;

/// <summary>How a <see cref="PipelineDriver"/> connects and what it does when a stage fails.</summary>
public sealed record PipelineDriverOptions
{
    /// <summary>Mutual TLS to the stages; null for h2c on loopback.</summary>
    public StageTls? Tls { get; init; }

    /// <summary>Replacement pipelines after a failure; null: a failure ends the sessions with a <see cref="PipelineException"/>.</summary>
    public IPipelineRecovery? Recovery { get; init; }

    /// <summary>Recoveries one session may go through before it fails (retryable).</summary>
    public int MaxRecoveriesPerSession { get; init; } = 3;

    /// <summary>Tries to obtain and connect a replacement pipeline after one failure.</summary>
    public int MaxReplaceAttempts { get; init; } = 3;

    /// <summary>Bound on one recovery, from the failure to the replay being sent (all tries together).</summary>
    public TimeSpan RecoveryTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Whether the first stage feeds each sampled token back as the next position itself (one round trip through the
    /// driver fewer per token); false: the driver sends every position, as benchmarks compare.
    /// </summary>
    public bool FeedBackAtFirstStage { get; init; } = true;

    /// <summary>Stamps each lane with a route ticket (stages of a deployment refuse lanes without one); null: none.</summary>
    public RouteTicketIssuer? Tickets { get; init; }

    /// <summary>
    /// When the lane counts as stalled (work in flight, no token back within a deadline learned from the measured step
    /// time); a stall is handled as a broken lane, without waiting for the transport to notice. Null: only a broken
    /// connection ends a lane.
    /// </summary>
    public StallDetectorOptions? Stall { get; init; } = new();

    /// <summary>How often the driver compares the lane's silence with its stall deadline (what a stall's detection may lag by).</summary>
    public TimeSpan StallCheckInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// How long each stage has to answer a status request after a stall: the first stage, in pipeline order, that does
    /// not is the one the failure names (recovery plans around its node). The request travels over the driver's open
    /// connection to the stage, so a live stage answers in one round trip.
    /// </summary>
    public TimeSpan StallProbeTimeout { get; init; } = TimeSpan.FromMilliseconds(500);

    public ILogger? Logger { get; init; }

    /// <summary>What the driver serves (a deployment's name): the <c>deployment</c> label of its metrics (<see cref="PipelineMetrics"/>).</summary>
    public string Name { get; init; } = string.Empty;

    /// <summary>Clock for pause measurements and stall deadlines.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>What recoveries and planned moves a driver has gone through: counts and the pauses its sessions saw (failure or move to next token).</summary>
public sealed record PipelineRecoveryStatistics(int Recoveries, int FailedRecoveries, int SessionsResumed, TimeSpan LastPause, TimeSpan MaxPause)
{
    /// <summary>Planned switches to another pipeline (<see cref="PipelineDriver.MoveToAsync"/>).</summary>
    public int Moves { get; init; }

    /// <summary>Lanes abandoned because they stopped making progress (each also counts as a recovery when one followed).</summary>
    public int Stalls { get; init; }
}
