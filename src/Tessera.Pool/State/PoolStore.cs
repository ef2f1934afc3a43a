using Google.Protobuf;
using Microsoft.Data.Sqlite;
using Tessera.Pool.Membership;
using Tessera.Pool.Security;

namespace Tessera.Pool.State;

/// <summary>
/// The pool's state in one SQLite file (WAL mode): meta, tokens, nodes, events, and room for links
/// and deployments. One connection, serialised by a lock: the coordinator's write rate (state
/// changes, batched heartbeats) is far below what SQLite sustains.
/// </summary>
public sealed class PoolStore : IDisposable
{
    private const int SchemaVersion = 1;
    private readonly SqliteConnection _connection;
    private readonly Lock _lock = new();

    private PoolStore(SqliteConnection connection)
    {
        _connection = connection;
    }

    public string Path { get; private init; } = string.Empty;

    public static PoolStore Open(string path)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        }.ToString());
        connection.Open();
        var store = new PoolStore(connection) { Path = path };
        store.Execute("PRAGMA journal_mode=WAL;");
        store.Execute("PRAGMA synchronous=NORMAL;");
        store.Execute("PRAGMA busy_timeout=5000;");
        store.Execute("PRAGMA foreign_keys=ON;");
        store.Migrate();
        return store;
    }

    public string JournalMode()
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "PRAGMA journal_mode;";
            return (string)command.ExecuteScalar()!;
        }
    }

    private void Migrate()
    {
        Execute("""
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS tokens (
                id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL, created_at INTEGER NOT NULL,
                expires_at INTEGER NOT NULL, revoked_at INTEGER, description TEXT NOT NULL DEFAULT '',
                uses INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE IF NOT EXISTS nodes (
                id TEXT PRIMARY KEY, name TEXT NOT NULL, state TEXT NOT NULL, drained INTEGER NOT NULL DEFAULT 0,
                address TEXT NOT NULL DEFAULT '', joined_at INTEGER NOT NULL, last_heartbeat INTEGER,
                cert_sha256 TEXT NOT NULL, hardware BLOB NOT NULL, metrics BLOB, token_id TEXT);
            CREATE INDEX IF NOT EXISTS nodes_name ON nodes(name);
            CREATE TABLE IF NOT EXISTS events (
                id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, kind TEXT NOT NULL,
                node_id TEXT, from_state TEXT, to_state TEXT, message TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS events_node ON events(node_id, id);
            CREATE TABLE IF NOT EXISTS links (
                from_node TEXT NOT NULL, to_node TEXT NOT NULL, rtt_ms REAL NOT NULL, jitter_p99_ms REAL NOT NULL,
                bandwidth_mbps REAL NOT NULL, measured_at INTEGER NOT NULL, PRIMARY KEY (from_node, to_node));
            CREATE TABLE IF NOT EXISTS deployments (
                id TEXT PRIMARY KEY, name TEXT NOT NULL, spec TEXT NOT NULL, state TEXT NOT NULL,
                created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
            """);
        if (GetMeta("schema_version") is null)
            SetMeta("schema_version", SchemaVersion.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    // ---- meta ----

    public string? GetMeta(string key)
    {
        lock (_lock)
        {
            using var command = Command("SELECT value FROM meta WHERE key = $k", ("$k", key));
            return command.ExecuteScalar() as string;
        }
    }

    public void SetMeta(string key, string value)
    {
        lock (_lock)
        {
            using var command = Command("INSERT INTO meta(key, value) VALUES ($k, $v) ON CONFLICT(key) DO UPDATE SET value = excluded.value", ("$k", key), ("$v", value));
            command.ExecuteNonQuery();
        }
    }

    // ---- tokens ----

    public void InsertToken(TokenRecord token)
    {
        lock (_lock)
        {
            using var tx = _connection.BeginTransaction();
            using (var command = Command("INSERT INTO tokens(id, secret_hash, created_at, expires_at, revoked_at, description, uses) VALUES ($id, $h, $c, $e, NULL, $d, 0)",
                ("$id", token.Id), ("$h", token.SecretHash), ("$c", Ms(token.CreatedAt)), ("$e", Ms(token.ExpiresAt)), ("$d", token.Description)))
            {
                command.Transaction = tx;
                command.ExecuteNonQuery();
            }
            InsertEvent(tx, token.CreatedAt, "token-created", null, null, null, $"Token {token.Id} created, expires {token.ExpiresAt:u}.");
            tx.Commit();
        }
    }

    public TokenRecord? GetToken(string id)
    {
        lock (_lock)
        {
            using var command = Command("SELECT id, secret_hash, created_at, expires_at, revoked_at, description, uses FROM tokens WHERE id = $id", ("$id", id));
            using var reader = command.ExecuteReader();
            return reader.Read() ? ReadToken(reader) : null;
        }
    }

    public IReadOnlyList<TokenRecord> ListTokens()
    {
        lock (_lock)
        {
            using var command = Command("SELECT id, secret_hash, created_at, expires_at, revoked_at, description, uses FROM tokens ORDER BY created_at");
            using var reader = command.ExecuteReader();
            var list = new List<TokenRecord>();
            while (reader.Read())
                list.Add(ReadToken(reader));
            return list;
        }
    }

    /// <summary>Revokes a token; false when no such token exists. Revoking twice keeps the first instant.</summary>
    public bool RevokeToken(string id, DateTimeOffset at)
    {
        lock (_lock)
        {
            using var tx = _connection.BeginTransaction();
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

    private static TokenRecord ReadToken(SqliteDataReader r) => new(
        r.GetString(0), r.GetString(1), FromMs(r.GetInt64(2)), FromMs(r.GetInt64(3)),
        r.IsDBNull(4) ? null : FromMs(r.GetInt64(4)), r.GetString(5), r.GetInt32(6));

    // ---- nodes ----

    /// <summary>Adds a node that just joined with a token, counting the token's use, in one transaction.</summary>
    public void InsertNode(NodeRecord node, string? tokenId)
    {
        lock (_lock)
        {
            using var tx = _connection.BeginTransaction();
            using (var command = Command("""
                INSERT INTO nodes(id, name, state, drained, address, joined_at, last_heartbeat, cert_sha256, hardware, metrics, token_id)
                VALUES ($id, $name, $state, $drained, $addr, $joined, NULL, $cert, $hw, NULL, $tok)
                """,
                ("$id", node.Id), ("$name", node.Name), ("$state", node.State.ToWire()), ("$drained", node.Drained ? 1 : 0),
                ("$addr", node.Address), ("$joined", Ms(node.JoinedAt)), ("$cert", node.CertificateFingerprint),
                ("$hw", node.Hardware.ToByteArray()), ("$tok", (object?)tokenId ?? DBNull.Value)))
            {
                command.Transaction = tx;
                command.ExecuteNonQuery();
            }
            if (tokenId is not null)
            {
                using var uses = Command("UPDATE tokens SET uses = uses + 1 WHERE id = $id", ("$id", tokenId));
                uses.Transaction = tx;
                uses.ExecuteNonQuery();
            }
            InsertEvent(tx, node.JoinedAt, "node-joined", node.Id, null, node.State.ToWire(),
                $"Node {node.Name} ({node.Id}) joined from {node.Address}" + (tokenId is null ? "." : $" with token {tokenId}."));
            tx.Commit();
        }
    }

    public NodeRecord? GetNode(string id)
    {
        lock (_lock)
        {
            using var command = Command(NodeSelect + " WHERE id = $id", ("$id", id));
            using var reader = command.ExecuteReader();
            return reader.Read() ? ReadNode(reader) : null;
        }
    }

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

    public IReadOnlyList<NodeRecord> ListNodes()
    {
        lock (_lock)
        {
            using var command = Command(NodeSelect + " ORDER BY joined_at, id");
            using var reader = command.ExecuteReader();
            var list = new List<NodeRecord>();
            while (reader.Read())
                list.Add(ReadNode(reader));
            return list;
        }
    }

    /// <summary>Changes a node's state and records the transition as an event, atomically. No-op when unchanged.</summary>
    public bool TransitionNode(string id, NodeState from, NodeState to, bool drained, DateTimeOffset at, string reason)
    {
        lock (_lock)
        {
            using var tx = _connection.BeginTransaction();
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
        lock (_lock)
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
        lock (_lock)
        {
            using var tx = _connection.BeginTransaction();
            using var command = _connection.CreateCommand();
            command.Transaction = tx;
            command.CommandText = "UPDATE nodes SET last_heartbeat = $at, address = $addr, metrics = $m WHERE id = $id";
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

    private const string NodeSelect = "SELECT id, name, state, drained, address, joined_at, last_heartbeat, cert_sha256, hardware, metrics FROM nodes";

    private static NodeRecord ReadNode(SqliteDataReader r) => new(
        r.GetString(0), r.GetString(1), NodeStateNames.Parse(r.GetString(2)), r.GetInt32(3) != 0, r.GetString(4),
        FromMs(r.GetInt64(5)), r.IsDBNull(6) ? null : FromMs(r.GetInt64(6)), r.GetString(7),
        Protocol.Hardware.Parser.ParseFrom((byte[])r.GetValue(8)),
        r.IsDBNull(9) ? null : Protocol.Metrics.Parser.ParseFrom((byte[])r.GetValue(9)));

    // ---- events ----

    public void AddEvent(DateTimeOffset at, string kind, string? nodeId, string message)
    {
        lock (_lock)
        {
            using var tx = _connection.BeginTransaction();
            InsertEvent(tx, at, kind, nodeId, null, null, message);
            tx.Commit();
        }
    }

    public IReadOnlyList<EventRecord> ListEvents(long afterId = 0, int limit = 200, string? nodeId = null)
    {
        lock (_lock)
        {
            using var command = Command(
                "SELECT id, at, kind, node_id, from_state, to_state, message FROM events WHERE id > $after AND ($node IS NULL OR node_id = $node) ORDER BY id LIMIT $limit",
                ("$after", afterId), ("$node", (object?)nodeId ?? DBNull.Value), ("$limit", limit));
            using var reader = command.ExecuteReader();
            var list = new List<EventRecord>();
            while (reader.Read())
            {
                list.Add(new EventRecord(reader.GetInt64(0), FromMs(reader.GetInt64(1)), reader.GetString(2),
                    reader.IsDBNull(3) ? null : reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4),
                    reader.IsDBNull(5) ? null : reader.GetString(5), reader.GetString(6)));
            }
            return list;
        }
    }

    private void InsertEvent(SqliteTransaction tx, DateTimeOffset at, string kind, string? nodeId, string? from, string? to, string message)
    {
        using var command = Command("INSERT INTO events(at, kind, node_id, from_state, to_state, message) VALUES ($at, $k, $n, $f, $t, $m)",
            ("$at", Ms(at)), ("$k", kind), ("$n", (object?)nodeId ?? DBNull.Value), ("$f", (object?)from ?? DBNull.Value),
            ("$t", (object?)to ?? DBNull.Value), ("$m", message));
        command.Transaction = tx;
        command.ExecuteNonQuery();
    }

    // ---- links (seam for the planner) ----

    public void UpsertLink(LinkRecord link)
    {
        lock (_lock)
        {
            using var command = Command("""
                INSERT INTO links(from_node, to_node, rtt_ms, jitter_p99_ms, bandwidth_mbps, measured_at) VALUES ($f, $t, $r, $j, $b, $at)
                ON CONFLICT(from_node, to_node) DO UPDATE SET rtt_ms = excluded.rtt_ms, jitter_p99_ms = excluded.jitter_p99_ms,
                  bandwidth_mbps = excluded.bandwidth_mbps, measured_at = excluded.measured_at
                """,
                ("$f", link.FromNodeId), ("$t", link.ToNodeId), ("$r", link.RttMs), ("$j", link.JitterP99Ms), ("$b", link.BandwidthMbps), ("$at", Ms(link.MeasuredAt)));
            command.ExecuteNonQuery();
        }
    }

    public IReadOnlyList<LinkRecord> ListLinks()
    {
        lock (_lock)
        {
            using var command = Command("SELECT from_node, to_node, rtt_ms, jitter_p99_ms, bandwidth_mbps, measured_at FROM links ORDER BY from_node, to_node");
            using var reader = command.ExecuteReader();
            var list = new List<LinkRecord>();
            while (reader.Read())
                list.Add(new LinkRecord(reader.GetString(0), reader.GetString(1), reader.GetDouble(2), reader.GetDouble(3), reader.GetDouble(4), FromMs(reader.GetInt64(5))));
            return list;
        }
    }

    // ---- helpers ----

    private void Execute(string sql)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = sql;
            command.ExecuteNonQuery();
        }
    }

    private SqliteCommand Command(string sql, params (string Name, object Value)[] parameters)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
            command.Parameters.AddWithValue(name, value);
        return command;
    }

    private static long Ms(DateTimeOffset at) => at.ToUnixTimeMilliseconds();

    private static DateTimeOffset FromMs(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    public void Dispose()
    {
        lock (_lock)
            _connection.Dispose();
    }
}
