using Google.Protobuf;
using Microsoft.Data.Sqlite;
using Tessera.Pool.Membership;
using Tessera.Pool.Security;
using Tessera.Storage;

namespace Tessera.Pool.State;

/// <summary>
/// The pool's own tables in its SQLite file (<see cref="PoolSchema"/>): meta, tokens, nodes, events and links.
/// Every change that tells a story (a node joined, a token was revoked) writes its event in the same transaction.
/// </summary>
public sealed class PoolStore : IDisposable
{
    private readonly SqliteDatabase _database;
    private readonly bool _ownsDatabase;

    /// <summary>A store over <paramref name="database"/> (opened with <see cref="PoolSchema.Open"/>), which the caller keeps and disposes.</summary>
    public PoolStore(SqliteDatabase database)
        : this(database, ownsDatabase: false)
    {
    }

    private PoolStore(SqliteDatabase database, bool ownsDatabase)
    {
        _database = database;
        _ownsDatabase = ownsDatabase;
    }

    /// <summary>The database file this store writes; other stores of the pool share its connection.</summary>
    public SqliteDatabase Database => _database;

    public string Path => _database.Path;

    /// <summary>Opens the pool's database at <paramref name="path"/> (bringing its schema up to date) for this store alone.</summary>
    public static PoolStore Open(string path) => new(PoolSchema.Open(path), ownsDatabase: true);

    public string JournalMode() => _database.JournalMode();

    // ---- meta ----

    public string? GetMeta(string key) =>
        _database.Scalar("SELECT value FROM meta WHERE key = $k", ("$k", key)) as string;

    public void SetMeta(string key, string value) =>
        _database.Execute("INSERT INTO meta(key, value) VALUES ($k, $v) ON CONFLICT(key) DO UPDATE SET value = excluded.value", ("$k", key), ("$v", value));

    // ---- tokens ----

    public void InsertToken(TokenRecord token)
    {
        lock (_database.Gate)
        {
            using var tx = _database.BeginTransaction();
            using (var command = Command("INSERT INTO tokens(id, secret_hash, created_at, expires_at, revoked_at, description, uses, max_uses, labels) VALUES ($id, $h, $c, $e, NULL, $d, 0, $m, $l)",
                ("$id", token.Id), ("$h", token.SecretHash), ("$c", Ms(token.CreatedAt)), ("$e", Ms(token.ExpiresAt)), ("$d", token.Description),
                ("$m", token.MaxUses), ("$l", Labels.ToJson(token.Labels))))
            {
                command.Transaction = tx;
                command.ExecuteNonQuery();
            }
            InsertEvent(tx, token.CreatedAt, "token-created", null, null, null, $"Token {token.Id} created, expires {token.ExpiresAt:u}.");
            tx.Commit();
        }
    }

    public TokenRecord? GetToken(string id) =>
        _database.QueryFirst(TokenSelect + " WHERE id = $id", ReadToken, ("$id", id));

    public IReadOnlyList<TokenRecord> ListTokens() =>
        _database.Query(TokenSelect + " ORDER BY created_at", ReadToken);

    /// <summary>Revokes a token; false when no such token exists. Revoking twice keeps the first instant.</summary>
    public bool RevokeToken(string id, DateTimeOffset at)
    {
        lock (_database.Gate)
        {
            using var tx = _database.BeginTransaction();
            int changed;
            using (var command = Command("UPDATE tokens SET revoked_at = COALESCE(revoked_at, $at) WHERE id = $id", ("$id", id), ("$at", Ms(at))))
            {
                command.Transaction = tx;
                changed = command.ExecuteNonQuery();
            }
            if (changed > 0)
                InsertEvent(tx, at, "token-revoked", null, null, null, $"Token {id} revoked.");
            tx.Commit();
            return changed > 0;
        }
    }

    private const string TokenSelect = "SELECT id, secret_hash, created_at, expires_at, revoked_at, description, uses, max_uses, labels FROM tokens";

    private static TokenRecord ReadToken(SqliteDataReader r) => new(
        r.GetString(0), r.GetString(1), FromMs(r.GetInt64(2)), FromMs(r.GetInt64(3)),
        r.IsDBNull(4) ? null : FromMs(r.GetInt64(4)), r.GetString(5), r.GetInt32(6), r.IsDBNull(7) ? null : r.GetInt32(7), Labels.FromJson(r.GetString(8)));

    // ---- nodes ----

    /// <summary>
    /// Adds a node that just joined with a token, counting the token's use, in one transaction; false (and nothing
    /// stored) when the token has no use left, even when a concurrent join took the last one a moment ago.
    /// </summary>
    public bool InsertNode(NodeRecord node, string? tokenId)
    {
        lock (_database.Gate)
        {
            using var tx = _database.BeginTransaction();
            if (tokenId is not null)
            {
                using var uses = Command("UPDATE tokens SET uses = uses + 1 WHERE id = $id AND (max_uses IS NULL OR uses < max_uses)", ("$id", tokenId));
                uses.Transaction = tx;
                if (uses.ExecuteNonQuery() == 0)
                    return false;
            }
            using (var command = Command("""
                INSERT INTO nodes(id, name, state, drained, address, joined_at, last_heartbeat, cert_sha256, hardware, metrics, token_id, labels)
                VALUES ($id, $name, $state, $drained, $addr, $joined, NULL, $cert, $hw, NULL, $tok, $labels)
                """,
                ("$id", node.Id), ("$name", node.Name), ("$state", node.State.ToWire()), ("$drained", node.Drained ? 1 : 0),
                ("$addr", node.Address), ("$joined", Ms(node.JoinedAt)), ("$cert", node.CertificateFingerprint),
                ("$hw", node.Hardware.ToByteArray()), ("$tok", tokenId), ("$labels", Labels.ToJson(node.Labels))))
            {
                command.Transaction = tx;
                command.ExecuteNonQuery();
            }
            InsertEvent(tx, node.JoinedAt, "node-joined", node.Id, null, node.State.ToWire(),
                $"Node {node.Name} ({node.Id}) joined from {node.Address}" + (tokenId is null ? "." : $" with token {tokenId}."));
            tx.Commit();
            return true;
        }
    }

    public NodeRecord? GetNode(string id) =>
        _database.QueryFirst(NodeSelect + " WHERE id = $id", ReadNode, ("$id", id));

    /// <summary>Finds a node by id, or by name when exactly one node has it.</summary>
    public NodeRecord? FindNode(string idOrName)
    {
        var byId = GetNode(idOrName);
        if (byId is not null)
            return byId;
        var byName = ListNodes().Where(n => n.Name == idOrName && n.State != NodeState.Left).ToList();
        if (byName.Count > 1)
            throw new PoolException($"More than one node is named '{idOrName}' ({string.Join(", ", byName.Select(n => n.Id))}); use the node id.");
        return byName.SingleOrDefault();
    }

    public IReadOnlyList<NodeRecord> ListNodes() =>
        _database.Query(NodeSelect + " ORDER BY joined_at, id", ReadNode);

    /// <summary>Changes a node's state and records the transition as an event, atomically. No-op when unchanged.</summary>
    public bool TransitionNode(string id, NodeState from, NodeState to, bool drained, DateTimeOffset at, string reason)
    {
        lock (_database.Gate)
        {
            using var tx = _database.BeginTransaction();
            int changed;
            using (var command = Command("UPDATE nodes SET state = $to, drained = $d WHERE id = $id AND (state <> $to OR drained <> $d)",
                ("$id", id), ("$to", to.ToWire()), ("$d", drained ? 1 : 0)))
            {
                command.Transaction = tx;
                changed = command.ExecuteNonQuery();
            }
            if (changed > 0 && from != to)
                InsertEvent(tx, at, "node-state", id, from.ToWire(), to.ToWire(), reason);
            tx.Commit();
            return changed > 0;
        }
    }

    /// <summary>Stores the hardware and name a node reported in its hello.</summary>
    public void UpdateNodeHardware(string id, string name, string address, Protocol.Hardware hardware)
    {
        lock (_database.Gate)
        {
            using var command = Command("UPDATE nodes SET name = $name, address = $addr, hardware = $hw WHERE id = $id",
                ("$id", id), ("$name", name), ("$addr", address), ("$hw", hardware.ToByteArray()));
            command.ExecuteNonQuery();
        }
    }

    /// <summary>Writes a batch of heartbeats in one transaction.</summary>
    public void WriteHeartbeats(IReadOnlyCollection<HeartbeatUpdate> updates)
    {
        if (updates.Count == 0)
            return;
        lock (_database.Gate)
        {
            using var tx = _database.BeginTransaction();
            using var command = _database.Command("UPDATE nodes SET last_heartbeat = $at, address = $addr, metrics = $m WHERE id = $id");
            command.Transaction = tx;
            var pId = command.Parameters.Add("$id", SqliteType.Text);
            var pAt = command.Parameters.Add("$at", SqliteType.Integer);
            var pAddr = command.Parameters.Add("$addr", SqliteType.Text);
            var pM = command.Parameters.Add("$m", SqliteType.Blob);
            foreach (var u in updates)
            {
                pId.Value = u.NodeId;
                pAt.Value = Ms(u.At);
                pAddr.Value = u.Address;
                pM.Value = (object?)u.Metrics?.ToByteArray() ?? DBNull.Value;
                command.ExecuteNonQuery();
            }
            tx.Commit();
        }
    }

    private const string NodeSelect = "SELECT id, name, state, drained, address, joined_at, last_heartbeat, cert_sha256, hardware, metrics, labels FROM nodes";

    private static NodeRecord ReadNode(SqliteDataReader r) => new(
        r.GetString(0), r.GetString(1), NodeStateNames.Parse(r.GetString(2)), r.GetInt32(3) != 0, r.GetString(4),
        FromMs(r.GetInt64(5)), r.IsDBNull(6) ? null : FromMs(r.GetInt64(6)), r.GetString(7),
        Protocol.Hardware.Parser.ParseFrom((byte[])r.GetValue(8)),
        r.IsDBNull(9) ? null : Protocol.Metrics.Parser.ParseFrom((byte[])r.GetValue(9)), Labels.FromJson(r.GetString(10)));

    // ---- events ----

    public void AddEvent(DateTimeOffset at, string kind, string? nodeId, string message)
    {
        lock (_database.Gate)
        {
            using var tx = _database.BeginTransaction();
            InsertEvent(tx, at, kind, nodeId, null, null, message);
            tx.Commit();
        }
    }

    public IReadOnlyList<EventRecord> ListEvents(long afterId = 0, int limit = 200, string? nodeId = null) =>
        ListEvents(afterId, long.MaxValue, limit, nodeId, newestFirst: false);

    /// <summary>
    /// At most <paramref name="limit"/> events with <paramref name="afterId"/> &lt; id &lt; <paramref name="beforeId"/>
    /// (of <paramref name="nodeId"/> when given), oldest first, or newest first with <paramref name="newestFirst"/>: the
    /// last events of a long log are read from its end (the id is the row id, and events_node covers a node's events),
    /// never by reading the whole log.
    /// </summary>
    public IReadOnlyList<EventRecord> ListEvents(long afterId, long beforeId, int limit, string? nodeId, bool newestFirst) =>
        _database.Query(
            "SELECT id, at, kind, node_id, from_state, to_state, message FROM events WHERE id > $after AND id < $before AND ($node IS NULL OR node_id = $node) ORDER BY id "
                + (newestFirst ? "DESC" : "ASC") + " LIMIT $limit",
            r => new EventRecord(r.GetInt64(0), FromMs(r.GetInt64(1)), r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3),
                r.IsDBNull(4) ? null : r.GetString(4), r.IsDBNull(5) ? null : r.GetString(5), r.GetString(6)),
            ("$after", afterId), ("$before", beforeId), ("$node", nodeId), ("$limit", limit));

    private void InsertEvent(SqliteTransaction tx, DateTimeOffset at, string kind, string? nodeId, string? from, string? to, string message)
    {
        using var command = Command("INSERT INTO events(at, kind, node_id, from_state, to_state, message) VALUES ($at, $k, $n, $f, $t, $m)",
            ("$at", Ms(at)), ("$k", kind), ("$n", (object?)nodeId ?? DBNull.Value), ("$f", (object?)from ?? DBNull.Value),
            ("$t", (object?)to ?? DBNull.Value), ("$m", message));
        command.Transaction = tx;
        command.ExecuteNonQuery();
    }

    // ---- links (what the link probes measured; the planner's input) ----

    /// <summary>Stores the latest measurement of the link from one node to another, replacing the previous one.</summary>
    public void UpsertLink(LinkRecord link)
    {
        lock (_database.Gate)
        {
            using var command = Command("""
                INSERT INTO links(from_node, to_node, rtt_ms, jitter_p99_ms, bandwidth_mbps, measured_at, rtt_p99_ms, loss, samples, error)
                VALUES ($f, $t, $r, $j, $b, $at, $p, $l, $n, $e)
                ON CONFLICT(from_node, to_node) DO UPDATE SET rtt_ms = excluded.rtt_ms, jitter_p99_ms = excluded.jitter_p99_ms,
                  bandwidth_mbps = excluded.bandwidth_mbps, measured_at = excluded.measured_at, rtt_p99_ms = excluded.rtt_p99_ms,
                  loss = excluded.loss, samples = excluded.samples, error = excluded.error
                """,
                ("$f", link.FromNodeId), ("$t", link.ToNodeId), ("$r", link.RttMs), ("$j", link.JitterP99Ms), ("$b", link.BandwidthMbps), ("$at", Ms(link.MeasuredAt)),
                ("$p", link.RttP99Ms), ("$l", link.Loss), ("$n", link.Samples), ("$e", (object?)link.Error ?? DBNull.Value));
            command.ExecuteNonQuery();
        }
    }

    /// <summary>Forgets every link to or from <paramref name="nodeId"/> (a removed node).</summary>
    public void DeleteLinks(string nodeId)
    {
        lock (_database.Gate)
        {
            using var command = Command("DELETE FROM links WHERE from_node = $n OR to_node = $n", ("$n", nodeId));
            command.ExecuteNonQuery();
        }
    }

    /// <summary>Forgets the failed measurements of links to or from <paramref name="nodeId"/> (it came back on a new probe endpoint).</summary>
    public void DeleteFailedLinks(string nodeId)
    {
        lock (_database.Gate)
        {
            using var command = Command("DELETE FROM links WHERE (from_node = $n OR to_node = $n) AND error IS NOT NULL", ("$n", nodeId));
            command.ExecuteNonQuery();
        }
    }

    public IReadOnlyList<LinkRecord> ListLinks() => ListLinks(null, int.MaxValue);

    /// <summary>
    /// At most <paramref name="limit"/> links in (from, to) order, after the link <paramref name="after"/> (from the first
    /// when null): a range of the table's primary key, so a page costs the same however many links the pool measured.
    /// </summary>
    public IReadOnlyList<LinkRecord> ListLinks((string From, string To)? after, int limit) =>
        _database.Query("SELECT from_node, to_node, rtt_ms, jitter_p99_ms, bandwidth_mbps, measured_at, rtt_p99_ms, loss, samples, error FROM links"
            + (after is null ? string.Empty : " WHERE (from_node, to_node) > ($f, $t)") + " ORDER BY from_node, to_node LIMIT $limit",
            r => new LinkRecord(r.GetString(0), r.GetString(1), r.GetDouble(2), r.GetDouble(3), r.GetDouble(4), FromMs(r.GetInt64(5)))
            {
                RttP99Ms = r.GetDouble(6),
                Loss = r.GetDouble(7),
                Samples = r.GetInt32(8),
                Error = r.IsDBNull(9) ? null : r.GetString(9),
            },
            ("$f", after?.From), ("$t", after?.To), ("$limit", limit));

    // ---- helpers ----

    private SqliteCommand Command(string sql, params (string Name, object? Value)[] parameters) => _database.Command(sql, parameters);

    private static long Ms(DateTimeOffset at) => SqliteTime.ToMs(at);

    private static DateTimeOffset FromMs(long ms) => SqliteTime.FromMs(ms);

    public void Dispose()
    {
        if (_ownsDatabase)
            _database.Dispose();
    }
}
