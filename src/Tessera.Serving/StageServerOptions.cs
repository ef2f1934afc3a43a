using System.Net;
using Tessera.Engine.Backends;
using Tessera.Engine.Model;
using Tessera.Serving.Protocol;

namespace Tessera.Serving;

/// <summary>What <see cref="StageServer"/> hosts and where it listens.</summary>
public sealed record StageServerOptions
{
    /// <summary>The GGUF file (only the tensors of <see cref="Layers"/> are read).</summary>
    public required string ModelPath { get; init; }

    /// <summary>Blocks [first, last) to run.</summary>
    public required LayerRange Layers { get; init; }

    /// <summary>Address to listen on; port 0 picks a free one (see <see cref="StageServer.Endpoint"/>).</summary>
    public IPEndPoint Listen { get; init; } = new(IPAddress.Loopback, 0);

    /// <summary>The next stage, HOST:PORT, for lanes that name no route.</summary>
    public string? Next { get; init; }

    public ActivationFormat Activations { get; init; } = ActivationFormat.F16;

    /// <summary>Compute threads (0: all processors).</summary>
    public int Threads { get; init; }

    /// <summary>The device the stage computes on: <c>cpu</c> (default), <c>gpu0</c>, ... (see <see cref="ComputeDevices"/>).</summary>
    public string Device { get; init; } = ComputeDevices.Cpu;

    /// <summary>Creates the backend for <see cref="Device"/> (default: CPU only; the CLI passes one that knows GPUs).</summary>
    public IBackendFactory? Backends { get; init; }

    /// <summary>Context per session (default: the model's).</summary>
    public int? ContextLength { get; init; }

    public int MaxBatchTokens { get; init; } = 256;

    /// <summary>Sessions held at once (see <see cref="StageHostOptions.MaxSessions"/>).</summary>
    public int MaxSessions { get; init; } = StageHostOptions.DefaultMaxSessions;

    /// <summary>The deployment's route key (see <see cref="StageHostOptions.RouteKey"/>); null: no tickets checked.</summary>
    public byte[]? RouteKey { get; init; }

    /// <summary>Decoding groups at the first stage (see <see cref="StageHostOptions.MicroBatches"/>): 0 one per machine of the pipeline, 1 off.</summary>
    public int MicroBatches { get; init; }

    /// <summary>Lanes served at once (see <see cref="StageHostOptions.MaxLanes"/>).</summary>
    public int MaxLanes { get; init; } = 64;

    /// <summary>Mutual TLS with the pool's certificates. Null requires <see cref="AllowPlaintext"/> and a loopback address.</summary>
    public StageTls? Tls { get; init; }

    /// <summary>Serve h2c without TLS: only on a loopback address (tests, benchmarks on one machine).</summary>
    public bool AllowPlaintext { get; init; }

    /// <summary>Fault injection only (see <see cref="StageHostOptions.FaultSlowdown"/>); null in normal use.</summary>
    public Func<double>? FaultSlowdown { get; init; }
}
