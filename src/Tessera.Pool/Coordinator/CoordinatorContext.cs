using System.Security.Cryptography.X509Certificates;
using Tessera.Identity;
using Tessera.Pool.Membership;
using Tessera.Pool.Protocol;
using Tessera.Pool.Security;
using Tessera.Pool.State;

namespace Tessera.Pool.Coordinator;

/// <summary>What the coordinator's endpoints share: the store, the CA, membership, and the pool's identity.</summary>
public sealed class CoordinatorContext
{
    public required string PoolId { get; init; }
    public required PoolStore Store { get; init; }
    public required PoolCertificateAuthority Authority { get; init; }
    public required MembershipService Membership { get; init; }
    public required TimeProvider Time { get; init; }
    /// <summary>SHA-256 of the admin key; replaced by <see cref="RotateAdminKey"/>.</summary>
    public required string AdminKeyHash
    {
        get => Volatile.Read(ref _adminKeyHash);
        init => _adminKeyHash = value;
    }

    private string _adminKeyHash = string.Empty;

    /// <summary>
    /// Replaces the admin key: a new one is written to <see cref="AdminKeyPath"/> and its hash to the database (both
    /// durably), and the old key is refused from the next request on. Returns the new key (shown once).
    /// </summary>
    public string RotateAdminKey()
    {
        var key = "tsa_" + Secrets.NewSecret();
        var hash = Secrets.Hash(key);
        PrivateFile.WriteAllText(AdminKeyPath, key + "\n");
        Store.SetMeta("admin_key_sha256", hash);
        Volatile.Write(ref _adminKeyHash, hash);
        Dashboard.EndAll();
        Store.AddEvent(Time.GetUtcNow(), "admin-key-rotated", null, "The admin key was replaced; the old one is refused from now on.");
        return key;
    }
    public required string AdminKeyPath { get; init; }

    /// <summary>The dashboard's signed-in browsers; all end when the admin key is rotated.</summary>
    public required Dashboard.DashboardSessions Dashboard { get; init; }

    /// <summary>
    /// Receives what agents report beyond membership (stage statuses, failed command results), with the node id.
    /// Called on the agent's stream: must not block.
    /// </summary>
    public Action<string, AgentMessage>? AgentMessageObserver { get; set; }

    /// <summary>Join attempts per source address (failed ones throttle it).</summary>
    public required JoinThrottle JoinThrottle { get; init; }

    /// <summary>
    /// The node id of <paramref name="certificate"/> when it belongs to a current member: signed by the pool CA, the
    /// very certificate the node joined with, and the node not removed. Otherwise why it is refused.
    /// </summary>
    public (string? NodeId, string? Error) CheckMember(X509Certificate2 certificate)
    {
        var (nodeId, error) = CertificateChecks.CheckNode(certificate, Authority.Certificate, Time.GetUtcNow());
        if (nodeId is null)
            return (null, error);
        var node = Membership.Get(nodeId);
        if (node is null || node.CertificateFingerprint != CertificateChecks.Fingerprint(certificate))
            return (null, $"node {nodeId} is not a member of this pool");
        lock (node.Gate)
        {
            if (node.State == NodeState.Left)
                return (null, $"node {nodeId} was removed from the pool");
        }
        return (nodeId, null);
    }

    /// <summary>The address written into join tokens (host:port), known once the server is listening.</summary>
    public string JoinAddress { get; set; } = string.Empty;

    /// <summary>The address the coordinator listens on (any address by default): what else it serves, such as the stage relay, binds there.</summary>
    public System.Net.IPAddress ListenAddress { get; set; } = System.Net.IPAddress.Any;

    /// <summary>The longest a join token may live: a token is a key to the pool, so it must not lie around for ever.</summary>
    public static readonly TimeSpan MaxTokenLifetime = TimeSpan.FromDays(30);

    /// <summary>The most machines one token may admit.</summary>
    public const int MaxTokenUses = 10_000;

    /// <summary>
    /// Creates a join token that admits at most <paramref name="uses"/> machines within <paramref name="ttl"/>, giving
    /// each the <paramref name="labels"/>; stores its hash and returns the token text.
    /// </summary>
    public (TokenRecord Record, string Token) CreateToken(TimeSpan ttl, string description, int uses = 1, IReadOnlyDictionary<string, string>? labels = null)
    {
        if (ttl <= TimeSpan.Zero || ttl > MaxTokenLifetime)
            throw new PoolException($"A token's time to live must be positive and at most {MaxTokenLifetime.TotalDays:0} days, e.g. --ttl 24h.", exitCode: 2);
        if (uses is < 1 or > MaxTokenUses)
            throw new PoolException($"A token may admit from 1 to {MaxTokenUses} machines (--uses), got {uses}.", exitCode: 2);
        Security.Labels.Validate(labels);
        var now = Time.GetUtcNow();
        var secret = Secrets.NewSecret();
        var record = new TokenRecord(Secrets.NewId("tok_"), Secrets.Hash(secret), now, now + ttl, null, description, 0, uses, labels ?? new Dictionary<string, string>());
        Store.InsertToken(record);
        var token = new JoinToken(JoinAddress, Authority.Fingerprint, record.Id, secret).Encode();
        return (record, token);
    }

    /// <summary>
    /// Admits a node: signs its key's request (CN = new node id), stores it as joining with the labels of the
    /// <paramref name="token"/> that admitted it (counting the token's use), and returns its certificate.
    /// </summary>
    /// <exception cref="PoolException">The token has no use left (a concurrent join took the last one).</exception>
    public JoinResponse AdmitNode(ReadOnlySpan<byte> csrDer, string requestedName, Protocol.Hardware? hardware, string address, TokenRecord? token)
    {
        var nodeId = Secrets.NewId("node_");
        using var certificate = Authority.SignNodeRequest(csrDer, nodeId, Time);
        var name = UniqueName(string.IsNullOrWhiteSpace(requestedName) ? nodeId : requestedName.Trim());
        var node = new NodeRecord(nodeId, name, NodeState.Joining, false, address, Time.GetUtcNow(), null,
            CertificateChecks.Fingerprint(certificate), hardware ?? new Protocol.Hardware(), null, token?.Labels);
        if (!Store.InsertNode(node, token?.Id))
            throw new PoolException(TokenValidator.Explain(TokenVerdict.UsedUp, token!.Id, Store.GetToken(token.Id)));
        Membership.AddJoined(node);
        return new JoinResponse
        {
            NodeId = nodeId,
            Name = name,
            PoolId = PoolId,
            CertificateDer = Google.Protobuf.ByteString.CopyFrom(certificate.RawData),
            CaCertificateDer = Google.Protobuf.ByteString.CopyFrom(Authority.Certificate.RawData),
        };
    }

    private string UniqueName(string name)
    {
        if (!Membership.IsNameTaken(name))
            return name;
        for (var i = 2; ; i++)
        {
            var candidate = $"{name}-{i}";
            if (!Membership.IsNameTaken(candidate))
                return candidate;
        }
    }
}
