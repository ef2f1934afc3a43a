using Tessera.Pool.Membership;
using Tessera.Pool.Protocol;

namespace Tessera.Pool.Coordinator;

/// <summary>The coordinator's in-memory view of one node. Guarded by its own lock (<see cref="Gate"/>).</summary>
internal sealed class LiveNode
{
    public LiveNode(string id, string name, NodeState state, bool drained, DateTimeOffset joinedAt, string certificateFingerprint, Protocol.Hardware hardware)
    {
        Id = id;
        Name = name;
        State = state;
        Drained = drained;
        JoinedAt = joinedAt;
        CertificateFingerprint = certificateFingerprint;
        Hardware = hardware;
    }

    public Lock Gate { get; } = new();
    public string Id { get; }
    public string Name { get; set; }
    public NodeState State { get; set; }
    public bool Drained { get; set; }
    public DateTimeOffset JoinedAt { get; }
    public string CertificateFingerprint { get; }
    /// <summary>What the agent reported at join or at its last hello; every reader of it (the API, the planner, the database) reads it here, so it is made finite here.</summary>
    public Protocol.Hardware Hardware
    {
        get;
        set => field = AgentReports.Finite(value);
    }

    /// <summary>Labels given by the token that admitted it.</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    public Metrics? Metrics
    {
        get;
        set => field = value is null ? null : AgentReports.Finite(value);
    }
    public string Address { get; set; } = string.Empty;

    /// <summary>The figures of its deployments' stages from its last heartbeat (none while it is not connected); never stored.</summary>
    public IReadOnlyList<StageFigures> Stages { get; set; } = [];

    /// <summary>HOST:PORT of the agent's link probe, from its last hello; empty: none.</summary>
    public string ProbeEndpoint { get; set; } = string.Empty;
    public DateTimeOffset? LastHeartbeat { get; set; }
    public PhiAccrualFailureDetector? Detector { get; set; }

    /// <summary>The detector's options for the heartbeat interval this node was told at its last connection.</summary>
    public required FailureDetectorOptions DetectorOptions { get; set; }
    public bool Dirty { get; set; }

    /// <summary>Messages to the agent over its current stream; null while it is not connected.</summary>
    public AgentOutbox? Outbox { get; set; }
    public long ConnectionId { get; set; }
}
