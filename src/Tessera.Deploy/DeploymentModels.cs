namespace Tessera.Deploy;

/// <summary>The body of <c>POST /api/deployments</c>: what to deploy and how (every field but the model is optional).</summary>
/// <param name="Model">A GGUF path on the coordinator's machine, or <c>hf://owner/repo/file.gguf</c>.</param>
/// <param name="Name">The model id clients use at /v1 (default: the file name without .gguf).</param>
/// <param name="Replicas">Independent copies of the pipeline, on disjoint devices (default 1).</param>
/// <param name="Context">Context length per session (default: the model's, at most 4096).</param>
/// <param name="MaxSessions">Sessions served at once; each stage reserves a KV cache per session (default 4).</param>
/// <param name="Activations">Between stages: f16 (default), f32 (exact) or q8.</param>
/// <param name="MinStages">Fewest stages per pipeline (default 1: as few as memory needs).</param>
/// <param name="Threads">Compute threads per stage (default 0: all processors of the agent's machine).</param>
/// <param name="Fetch">Agents always fetch the model over the network, even when they can see the coordinator's file.</param>
/// <param name="Slice">Send each stage only its own tensors (default: when there is more than one stage).</param>
/// <param name="Placement">
/// The stages as the user wants them instead of the planner's choice: <c>NODE:FIRST-LAST</c> per stage in pipeline
/// order, comma-separated (a node by name or id; layers first inclusive, last exclusive), e.g.
/// <c>agent-a:0-11,agent-b:11-22</c>. One replica; improvements leave it alone, recovery repairs it as any plan.
/// </param>
/// <param name="IgnoreLinks">Plan as if no link had been measured (every hop the planner's default): to compare with a plan that uses them.</param>
/// <param name="AutoReplicas">
/// Let the planner choose the number of replicas (<c>--replicas auto</c>): the count with the most tokens/s with every
/// stage busy whose replicas each keep at least 0.8x the single-stream speed of one pipeline. Chosen once, at creation:
/// the deployment then keeps that count (<see cref="Replicas"/>) through repairs and improvements.
/// </param>
public sealed record DeploymentRequest(
    string? Model,
    string? Name = null,
    int? Replicas = null,
    int? Context = null,
    int? MaxSessions = null,
    string? Activations = null,
    int? MinStages = null,
    int? Threads = null,
    bool? Fetch = null,
    bool? Slice = null,
    string? Placement = null,
    bool? IgnoreLinks = null,
    bool? AutoReplicas = null);

/// <summary>A deployment as the API shows it.</summary>
public sealed record DeploymentView(
    string Id,
    string Name,
    string Model,
    string ModelSha256,
    long ModelBytes,
    string State,
    string? Error,
    int ContextLength,
    int MaxSessions,
    string Activations,
    double PredictedTokensPerSecond,
    string Explanation,
    IReadOnlyList<StageView> Stages,
    DateTimeOffset CreatedAt);

/// <summary>One stage of a deployment: where it runs, what it holds and where it stands.</summary>
public sealed record StageView(
    int Replica,
    int Index,
    string NodeId,
    string NodeName,
    int FirstLayer,
    int LastLayer,
    long WeightBytes,
    long KvBytes,
    double PredictedTokensPerSecond,
    string State,
    string? Endpoint,
    string? Error,
    long BytesDone,
    long BytesTotal)
{
    /// <summary>The device of its node it computes on: "cpu", "gpu0", ...</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>
    /// The speed (GB/s) of the stage's node as its stages' decoding shows it, which the planner uses over the agent's
    /// probe; null until observed (see docs/planner.md, "Speeds learned from the stages").
    /// </summary>
    public double? ObservedGBps { get; init; }
}

/// <summary>Stage states: pending (not yet sent), starting (sent), fetching, loading, ready, failed, waiting (node gone), stopped.</summary>
public static class StageStates
{
    public const string Pending = "pending";
    public const string Starting = "starting";
    public const string Fetching = "fetching";
    public const string Loading = "loading";
    public const string Ready = "ready";
    public const string Failed = "failed";
    public const string Waiting = "waiting";
    public const string Stopped = "stopped";
}

/// <summary>Deployment states: deploying until every stage is ready and the pipeline is connected, then ready; failed when a stage failed.</summary>
public static class DeploymentStates
{
    public const string Deploying = "deploying";
    public const string Ready = "ready";
    public const string Failed = "failed";
}

/// <summary>What is stored in the deployments table's spec column: the request, the resolved model and the plan.</summary>
internal sealed record StoredDeployment(
    string Id,
    string Name,
    DeploymentRequest Spec,
    string ModelPath,
    string ModelSha256,
    long ModelBytes,
    int ContextLength,
    int MaxSessions,
    string Activations,
    double PredictedTokensPerSecond,
    string Explanation,
    IReadOnlyList<StoredStage> Stages,
    DateTimeOffset CreatedAt)
{
    /// <summary>The model's block count: where the last stage ends.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public int LayerCount => Stages.Max(s => s.LastLayer);

    /// <summary>The replica count the stages form.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public int ReplicaCount => Stages.Count == 0 ? 0 : Stages.Max(s => s.Replica) + 1;
}

/// <summary>A planned stage and the file its agent loads (the whole model or a slice), by hash.</summary>
internal sealed record StoredStage(
    int Replica,
    int Index,
    string NodeId,
    string NodeName,
    int FirstLayer,
    int LastLayer,
    long WeightBytes,
    long KvBytes,
    double PredictedTokensPerSecond,
    string FileSha256,
    long FileBytes,
    string FilePath)
{
    /// <summary>The device of its node it computes on: "cpu" (the default, and what plans stored before GPUs hold), "gpu0", ...</summary>
    public string Device { get; init; } = Tessera.Engine.Backends.ComputeDevices.Cpu;

    /// <summary>The planner's id of its device, NODE/DEVICE.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string DeviceId => PoolCluster.DeviceId(NodeId, Device);

    /// <summary>The same stage at another place in the pipeline: node, device, replica, layers and file unchanged.</summary>
    public bool SameWorkAs(StoredStage other) => this with { Index = 0 } == other with { Index = 0 };
}
