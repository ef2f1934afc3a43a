using System.Security.Cryptography;
using Microsoft.Data.Sqlite;
using Tessera.Storage;

namespace Tessera.Api.Batches;

/// <summary>
/// Where batch jobs live, so that they survive a restart: the bytes of uploaded and result files in the content store
/// (each held there for its file, so the store's eviction never takes it), and in <c>batches.db</c> (SQLite) the files'
/// metadata and hashes, each batch, and each of its lines with its result once it has one.
/// A line's result is written once, in the same statement that marks it done, so a line run again after a crash
/// (its result was never written) appears in the output exactly once.
/// </summary>
internal sealed class BatchStore : IDisposable
{
    private const string Schema = """
        CREATE TABLE IF NOT EXISTS files (
            id TEXT PRIMARY KEY, owner TEXT, purpose TEXT NOT NULL, filename TEXT NOT NULL, bytes INTEGER NOT NULL, created_at INTEGER NOT NULL,
            sha256 TEXT);
        CREATE TABLE IF NOT EXISTS batches (
            id TEXT PRIMARY KEY, owner TEXT, scope TEXT, endpoint TEXT NOT NULL, input_file_id TEXT NOT NULL, completion_window TEXT NOT NULL,
            status TEXT NOT NULL, metadata TEXT, errors TEXT, created_at INTEGER NOT NULL, in_progress_at INTEGER, finalizing_at INTEGER,
            completed_at INTEGER, failed_at INTEGER, cancelling_at INTEGER, cancelled_at INTEGER, expires_at INTEGER,
            output_file_id TEXT, error_file_id TEXT, total INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE IF NOT EXISTS batch_lines (
            batch_id TEXT NOT NULL, line INTEGER NOT NULL, custom_id TEXT NOT NULL, body TEXT NOT NULL,
            state TEXT NOT NULL, result TEXT, PRIMARY KEY (batch_id, line));
        CREATE INDEX IF NOT EXISTS batch_lines_pending ON batch_lines (batch_id, state);
        """;

    private const string FileColumns = "id, owner, purpose, filename, bytes, created_at, sha256";

    private readonly SqliteDatabase _db;
    private readonly IBatchFileStore _content;

    public BatchStore(string directory, IBatchFileStore content)
    {
        Directory = directory;
        _content = content;
        System.IO.Directory.CreateDirectory(directory);
        _db = SqliteDatabase.Open(Path.Combine(directory, "batches.db"));
        _db.Execute(Schema);
        if (!_db.Query("PRAGMA table_info(files)", r => r.GetString(1)).Contains("sha256"))
            _db.Execute("ALTER TABLE files ADD COLUMN sha256 TEXT");
        AdoptLooseFiles();
    }

    public string Directory { get; }

    /// <summary>Where earlier versions kept file bytes, one file per id; moved into the content store at open.</summary>
    private string LegacyFilesDirectory => Path.Combine(Directory, "files");

    public static string NewId(string prefix) => prefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));

    /// <summary>The name a file's hold has in the content store.</summary>
    private static string Holder(string id) => "batch-file:" + id;

    // ---- files ----

    /// <summary>Adds a file's row before its bytes exist, reserving its size against the limit; <see cref="WriteFileAsync"/> fills it.</summary>
    public void AddFile(StoredFile file) => _db.Execute(
        "INSERT INTO files (id, owner, purpose, filename, bytes, created_at) VALUES ($id, $owner, $purpose, $filename, $bytes, $created)",
        ("$id", file.Id), ("$owner", file.Owner), ("$purpose", file.Purpose), ("$filename", file.Filename), ("$bytes", file.Bytes), ("$created", file.CreatedAt));

    /// <summary>Stores a file's bytes in the content store, held for the file, and records their hash and size.</summary>
    public async Task WriteFileAsync(string id, Stream content, CancellationToken cancellationToken)
    {
        var (hash, size) = await _content.AddAsync(content, Holder(id), cancellationToken).ConfigureAwait(false);
        if (_db.Execute("UPDATE files SET sha256 = $hash, bytes = $bytes WHERE id = $id", ("$id", id), ("$hash", hash), ("$bytes", size)) == 0)
            _content.Release(hash, Holder(id)); // deleted while it was being written
    }

    /// <summary>A complete file (its bytes are stored); files still being written are not found.</summary>
    public StoredFile? FindFile(string id) => _db.QueryFirst($"SELECT {FileColumns} FROM files WHERE id = $id AND sha256 IS NOT NULL", ReadFile, ("$id", id));

    public List<StoredFile> ListFiles(string? owner) => _db.Query(
        $"SELECT {FileColumns} FROM files WHERE owner IS $owner AND sha256 IS NOT NULL ORDER BY created_at DESC, id", ReadFile, ("$owner", owner));

    /// <summary>Where a file's bytes are, or null when the content store lost them (deleted behind its back).</summary>
    public string? ContentPath(StoredFile file) => file.Sha256 is { } hash ? _content.PathOf(hash) : null;

    public bool DeleteFile(string id)
    {
        var sha = _db.Scalar("SELECT sha256 FROM files WHERE id = $id", ("$id", id)) as string;
        var removed = _db.Execute("DELETE FROM files WHERE id = $id", ("$id", id)) > 0;
        if (sha is not null)
            _content.Release(sha, Holder(id));
        return removed;
    }

    /// <summary>The bytes all stored files take, for the size limit.</summary>
    public long TotalFileBytes() => (long)(_db.Scalar("SELECT COALESCE(SUM(bytes), 0) FROM files") ?? 0L);

    private static StoredFile ReadFile(SqliteDataReader r) =>
        new(r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt64(4), r.GetInt64(5), r.IsDBNull(6) ? null : r.GetString(6));

    /// <summary>
    /// At open, every file row without a hash is either an upload a crash cut short (no bytes: the row goes, freeing its
    /// reservation) or a file an earlier version kept under <c>files/</c> (moved into the content store, by hard link).
    /// </summary>
    private void AdoptLooseFiles()
    {
        foreach (var id in _db.Query("SELECT id FROM files WHERE sha256 IS NULL", r => r.GetString(0)))
        {
            var legacy = Path.Combine(LegacyFilesDirectory, id);
            if (!File.Exists(legacy))
            {
                _db.Execute("DELETE FROM files WHERE id = $id", ("$id", id));
                continue;
            }
            using (var stream = File.OpenRead(legacy))
                WriteFileAsync(id, stream, CancellationToken.None).GetAwaiter().GetResult();
            File.Delete(legacy);
        }
    }

    // ---- batches ----

    /// <summary>Adds a batch and its lines (all pending) in one transaction.</summary>
    public void AddBatch(StoredBatch batch, IReadOnlyList<(string CustomId, string Body)> lines)
    {
        lock (_db.Gate)
        {
            using var tx = _db.BeginTransaction();
            using (var insert = _db.Command("""
                INSERT INTO batches (id, owner, scope, endpoint, input_file_id, completion_window, status, metadata, errors, created_at, in_progress_at,
                    failed_at, expires_at, total)
                VALUES ($id, $owner, $scope, $endpoint, $input, $window, $status, $metadata, $errors, $created, $inProgress, $failed, $expires, $total)
                """,
                ("$id", batch.Id), ("$owner", batch.Owner), ("$scope", batch.Scope), ("$endpoint", batch.Endpoint), ("$input", batch.InputFileId),
                ("$window", batch.CompletionWindow), ("$status", batch.Status), ("$metadata", batch.Metadata), ("$errors", batch.Errors),
                ("$created", batch.CreatedAt), ("$inProgress", batch.InProgressAt), ("$failed", batch.FailedAt), ("$expires", batch.ExpiresAt), ("$total", lines.Count)))
            {
                insert.Transaction = tx;
                insert.ExecuteNonQuery();
            }
            using (var line = _db.Command("INSERT INTO batch_lines (batch_id, line, custom_id, body, state) VALUES ($batch, $line, $custom, $body, 'pending')",
                ("$batch", batch.Id), ("$line", 0), ("$custom", ""), ("$body", "")))
            {
                line.Transaction = tx;
                for (var i = 0; i < lines.Count; i++)
                {
                    line.Parameters["$line"].Value = i;
                    line.Parameters["$custom"].Value = lines[i].CustomId;
                    line.Parameters["$body"].Value = lines[i].Body;
                    line.ExecuteNonQuery();
                }
            }
            tx.Commit();
        }
    }

    private const string BatchColumns = """
        id, owner, scope, endpoint, input_file_id, completion_window, status, metadata, errors, created_at, in_progress_at, finalizing_at,
        completed_at, failed_at, cancelling_at, cancelled_at, expires_at, output_file_id, error_file_id, total,
        (SELECT COUNT(*) FROM batch_lines l WHERE l.batch_id = b.id AND l.state = 'done'),
        (SELECT COUNT(*) FROM batch_lines l WHERE l.batch_id = b.id AND l.state = 'failed')
        """;

    public StoredBatch? FindBatch(string id) => _db.QueryFirst($"SELECT {BatchColumns} FROM batches b WHERE id = $id", ReadBatch, ("$id", id));

    public List<StoredBatch> ListBatches(string? owner, int limit) => _db.Query(
        $"SELECT {BatchColumns} FROM batches b WHERE owner IS $owner ORDER BY created_at DESC, id LIMIT $limit", ReadBatch, ("$owner", owner), ("$limit", limit));

    /// <summary>Batches the runner has work in: in progress or being cancelled, oldest first.</summary>
    public List<StoredBatch> ActiveBatches() => _db.Query(
        $"SELECT {BatchColumns} FROM batches b WHERE status IN ('in_progress', 'cancelling') ORDER BY created_at, id", ReadBatch);

    /// <summary>Sets <paramref name="status"/> and the time column named after it, when the batch is in one of <paramref name="from"/>.</summary>
    public bool SetStatus(string id, string status, long at, params string[] from)
    {
        var column = status + "_at";
        var allowed = string.Join(", ", from.Select((_, i) => $"$from{i}"));
        var parameters = new List<(string, object?)> { ("$id", id), ("$status", status), ("$at", at) };
        parameters.AddRange(from.Select((f, i) => ($"$from{i}", (object?)f)));
        return _db.Execute($"UPDATE batches SET status = $status, {column} = $at WHERE id = $id AND status IN ({allowed})", [.. parameters]) > 0;
    }

    public void SetFiles(string id, string? outputFileId, string? errorFileId) => _db.Execute(
        "UPDATE batches SET output_file_id = $out, error_file_id = $err WHERE id = $id", ("$id", id), ("$out", outputFileId), ("$err", errorFileId));

    private static StoredBatch ReadBatch(SqliteDataReader r)
    {
        long? At(int i) => r.IsDBNull(i) ? null : r.GetInt64(i);
        string? Text(int i) => r.IsDBNull(i) ? null : r.GetString(i);
        return new StoredBatch(r.GetString(0), Text(1), Text(2), r.GetString(3), r.GetString(4), r.GetString(5), r.GetString(6), Text(7), Text(8),
            r.GetInt64(9), At(10), At(11), At(12), At(13), At(14), At(15), At(16), Text(17), Text(18), r.GetInt32(19), r.GetInt32(20), r.GetInt32(21));
    }

    // ---- lines ----

    /// <summary>Up to <paramref name="limit"/> pending lines of a batch, in order, leaving out <paramref name="skip"/> (those running now).</summary>
    public List<PendingLine> PendingLines(string batchId, int limit, IReadOnlySet<int> skip)
    {
        var lines = _db.Query("SELECT line, custom_id, body FROM batch_lines WHERE batch_id = $batch AND state = 'pending' ORDER BY line LIMIT $limit",
            r => new PendingLine(batchId, r.GetInt32(0), r.GetString(1), r.GetString(2)), ("$batch", batchId), ("$limit", limit + skip.Count));
        return lines.Where(l => !skip.Contains(l.Line)).Take(limit).ToList();
    }

    public int CountPending(string batchId) =>
        Convert.ToInt32(_db.Scalar("SELECT COUNT(*) FROM batch_lines WHERE batch_id = $batch AND state = 'pending'", ("$batch", batchId)));

    /// <summary>Records a line's result; false when it already had one (it is never written twice).</summary>
    public bool Finish(string batchId, int line, bool succeeded, string result) => _db.Execute(
        "UPDATE batch_lines SET state = $state, result = $result WHERE batch_id = $batch AND line = $line AND state = 'pending'",
        ("$batch", batchId), ("$line", line), ("$state", succeeded ? "done" : "failed"), ("$result", result)) > 0;

    /// <summary>The results of a batch's lines in one state, in line order.</summary>
    public List<string> Results(string batchId, string state) => _db.Query(
        "SELECT result FROM batch_lines WHERE batch_id = $batch AND state = $state ORDER BY line", r => r.GetString(0), ("$batch", batchId), ("$state", state));

    public void Dispose() => _db.Dispose();
}

internal sealed record StoredFile(string Id, string? Owner, string Purpose, string Filename, long Bytes, long CreatedAt, string? Sha256 = null);

internal sealed record StoredBatch(
    string Id, string? Owner, string? Scope, string Endpoint, string InputFileId, string CompletionWindow, string Status, string? Metadata, string? Errors,
    long CreatedAt, long? InProgressAt, long? FinalizingAt, long? CompletedAt, long? FailedAt, long? CancellingAt, long? CancelledAt, long? ExpiresAt,
    string? OutputFileId, string? ErrorFileId, int Total, int Completed, int Failed);

internal sealed record PendingLine(string BatchId, int Line, string CustomId, string Body);
