using Tessera.Serving.Protocol;

namespace Tessera.Serving;

/// <summary>How a <see cref="StageHost"/> batches and where it sends its output.</summary>
public sealed record StageHostOptions
{
    /// <summary>Format of the hidden states this stage sends to the next (f16 by default, f32 for exactness).</summary>
    public ActivationFormat Activations { get; init; } = ActivationFormat.F16;

    /// <summary>Positions per forward pass across all sessions: long prompts are cut into chunks so decoding sessions keep a steady pace.</summary>
    public int MaxBatchTokens { get; init; } = 256;

    /// <summary>The next stage (HOST:PORT) for lanes that name no route; null for the last stage.</summary>
    public string? Next { get; init; }

    /// <summary>Mutual TLS to the next stage; null for h2c (loopback tests).</summary>
    public StageTls? Tls { get; init; }

    /// <summary>A name for the model in status replies (the GGUF file name).</summary>
    public string ModelName { get; init; } = "";
}
