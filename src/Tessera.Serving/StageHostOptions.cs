using Tessera.Serving.Protocol;

namespace Tessera.Serving;

/// <summary>How a <see cref="StageHost"/> batches and where it sends its output.</summary>
public sealed record StageHostOptions
{
    /// <summary>Format of the hidden states this stage sends to the next (f16 by default, f32 for exactness).</summary>
    public ActivationFormat Activations { get; init; } = ActivationFormat.F16;

    /// <summary>Positions per forward pass across all sessions: long prompts are cut into chunks so decoding sessions keep a steady pace.</summary>
    public int MaxBatchTokens { get; init; } = 256;

    /// <summary>
    /// Groups the first stage splits its decoding sessions into, so the stages of several machines compute at once
    /// (<see cref="Serving.MicroBatching"/>): 0 (the default) is one group per machine of the lane's pipeline, judged by
    /// host; 1 keeps every session in one batch. Other stages ignore it.
    /// </summary>
    public int MicroBatches { get; init; }

    /// <summary>The next stage (HOST:PORT) for lanes that name no route; null for the last stage.</summary>
    public string? Next { get; init; }

    /// <summary>Mutual TLS to the next stage; null for h2c (loopback tests).</summary>
    public StageTls? Tls { get; init; }

    /// <summary>
    /// Sessions the stage holds at once, over all lanes; an open beyond it fails that session. A deployment passes twice
    /// its max_sessions: the sessions of a lane whose upstream died linger until the lane is torn down, and their
    /// replays must not be refused meanwhile. Each session's KV cache is bounded by the context, so this bounds the
    /// memory any caller can make the stage take.
    /// </summary>
    public int MaxSessions { get; init; } = DefaultMaxSessions;

    public const int DefaultMaxSessions = 64;

    /// <summary>Lanes (upstream streams) at once; more are refused with ResourceExhausted.</summary>
    public int MaxLanes { get; init; } = 64;

    /// <summary>
    /// The deployment's route key (<see cref="RouteTickets"/>): lanes must carry a ticket signed with it. Null: any
    /// caller the TLS layer admits may open lanes, toward any route (a stage started by hand, tests).
    /// </summary>
    public byte[]? RouteKey { get; init; }

    /// <summary>A name for the model in status replies (the GGUF file name).</summary>
    public string ModelName { get; init; } = "";

    /// <summary>
    /// The model's tokens as grammars see them, for sessions whose output is constrained (the last stage samples);
    /// built on first use. Null: such sessions are refused with a clear error.
    /// </summary>
    public Func<Tessera.Generation.Constraints.TokenVocabulary>? Vocabulary { get; init; }

    /// <summary>
    /// Fault injection, for tests and chaos runs only: read before each forward pass, a factor above 1 makes the pass
    /// take that many times as long (the stage waits out the difference, as under a CPU quota). Null (always, outside
    /// fault injection): passes run at full speed. See <see cref="FaultSlowdownFile"/>.
    /// </summary>
    public Func<double>? FaultSlowdown { get; init; }
}
