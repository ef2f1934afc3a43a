using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Tessera.Distribution;

/// <summary>
/// A content-addressed cache of model files in a directory: each blob lives at <c>blobs/sha256/&lt;hex&gt;</c>
/// and is published there only after its whole SHA-256 was verified and its bytes were flushed to disk (an atomic
/// rename from <c>partial/</c>, where transfers in progress keep what they have so they can resume). A blob found on
/// disk when the store opens is trusted again only once its hash has been checked, on its first use
/// (<see cref="TryGetVerifiedAsync"/>, manifests). Sizes are accounted and, over the byte budget, the least recently
/// used blobs that are not pinned are evicted. Safe for concurrent use within one process; <see cref="LockAsync"/>
/// serialises writers of the same blob.
/// </summary>
public sealed class ContentStore
{
    private readonly object _gate = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(ContentHash Hash, int ChunkSize), Lazy<Task<ChunkManifest>>> _manifestBuilds = new();
    private readonly Dictionary<ContentHash, Entry> _entries = new();
    private readonly Dictionary<ContentHash, int> _pins = new();
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly ILogger? _logger;
    private readonly Func<string, string, bool> _hardLink;
    private long _totalBytes;

    /// <param name="root">The cache directory; created when missing.</param>
    /// <param name="maxBytes">Byte budget for published blobs; beyond it the least recently used are evicted.</param>
    /// <param name="hardLink">Makes a hard link (existing file, new name), false when it cannot; the system's by default.
    /// Tests force the copy that follows a refusal with one that always refuses.</param>
    public ContentStore(string root, long maxBytes = long.MaxValue, TimeProvider? timeProvider = null, ILogger? logger = null,
        Func<string, string, bool>? hardLink = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        Root = Path.GetFullPath(root);
        MaxBytes = maxBytes;
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger;
        _hardLink = hardLink ?? FileLinks.TryHardLink;
        BlobDirectory = Path.Combine(Root, "blobs", "sha256");
        PartialDirectory = Path.Combine(Root, "partial");
        ManifestDirectory = Path.Combine(Root, "manifests");
        RefDirectory = Path.Combine(Root, "refs");
        NameDirectory = Path.Combine(Root, "models");
        HoldDirectory = Path.Combine(Root, "holds");
        Directory.CreateDirectory(BlobDirectory);
        Directory.CreateDirectory(PartialDirectory);
        Directory.CreateDirectory(ManifestDirectory);
        Directory.CreateDirectory(RefDirectory);
        Scan();
    }

    public string Root { get; }

    public long MaxBytes { get; }

    internal string BlobDirectory { get; }

    internal string PartialDirectory { get; }

    internal string ManifestDirectory { get; }

    internal string RefDirectory { get; }

    /// <summary><c>holds/&lt;hex&gt;/</c>: one file per holder of a blob, so holds outlive the process (see <see cref="Hold"/>).</summary>
    internal string HoldDirectory { get; }

    /// <summary>
    /// <c>models/</c>: blobs under the names they have where they came from (<c>models/OWNER/REPO/REVISION/FILE</c>),
    /// as links. The parts of a split model must sit side by side under their own names for the loader to find them; a
    /// blob's hash is no such name.
    /// </summary>
    public string NameDirectory { get; }

    /// <summary>Bytes of published blobs.</summary>
    public long TotalBytes
    {
        get
        {
            lock (_gate)
                return _totalBytes;
        }
    }

    public int Count
    {
        get
        {
            lock (_gate)
                return _entries.Count;
        }
    }

    /// <summary>The default cache: $TESSERA_CACHE_DIR, else $TESSERA_HOME/cache, else ~/.tessera/cache.</summary>
    public static string DefaultRoot()
    {
        var cache = Environment.GetEnvironmentVariable("TESSERA_CACHE_DIR");
        if (!string.IsNullOrWhiteSpace(cache))
            return cache;
        var home = Environment.GetEnvironmentVariable("TESSERA_HOME");
        if (string.IsNullOrWhiteSpace(home))
            home = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".tessera");
        return Path.Combine(home, "cache");
    }

    /// <summary>Where a blob is (or would be) published.</summary>
    public string GetBlobPath(ContentHash hash) => Path.Combine(BlobDirectory, hash.Hex);

    /// <summary>The partial file of a transfer in progress for <paramref name="hash"/>.</summary>
    public string GetPartialPath(ContentHash hash) => Path.Combine(PartialDirectory, hash.Hex);

    /// <summary>The partial file for a download whose hash is not known yet, named from <paramref name="key"/>.</summary>
    public string GetPartialPath(string key) => Path.Combine(PartialDirectory, "k-" + ContentHash.Of(Encoding.UTF8.GetBytes(key)).Hex);

    public bool Contains(ContentHash hash)
    {
        lock (_gate)
            return _entries.ContainsKey(hash);
    }

    /// <summary>The path of a published blob, marking it as just used; false when the store does not hold it.</summary>
    public bool TryGet(ContentHash hash, [NotNullWhen(true)] out string? path)
    {
        path = null;
        if (hash.IsEmpty)
            return false;
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            if (!_entries.TryGetValue(hash, out var entry))
                return false;
            path = GetBlobPath(hash);
            if (!File.Exists(path))
            {
                // Removed behind our back: forget it.
                _entries.Remove(hash);
                _totalBytes -= entry.Size;
                path = null;
                return false;
            }
            entry.LastUsed = now;
        }
        TouchFile(path, now);
        return true;
    }

    /// <summary>
    /// The path of a published blob whose content is known to match its hash: a blob published by this process, or
    /// one found on disk at start and checked now (a full read, once). A blob that no longer matches (corrupted on
    /// disk, changed behind the store's back) is removed, and the answer is null: fetch it again.
    /// </summary>
    public async Task<string?> TryGetVerifiedAsync(ContentHash hash, CancellationToken cancellationToken = default)
    {
        if (!TryGet(hash, out var path))
            return null;
        lock (_gate)
        {
            if (_entries.TryGetValue(hash, out var entry) && entry.Verified)
                return path;
        }
        using (Pin(hash))
        {
            var actual = await ContentHash.OfFileAsync(path, cancellationToken).ConfigureAwait(false);
            if (actual != hash)
            {
                Log.ChecksumMismatch(_logger, $"cached blob {path}", hash.Hex, actual.Hex);
                Remove(hash);
                return null;
            }
        }
        MarkVerified(hash);
        return path;
    }

    /// <summary>Size of a published blob, or -1.</summary>
    public long GetSize(ContentHash hash)
    {
        lock (_gate)
            return _entries.TryGetValue(hash, out var e) ? e.Size : -1;
    }

    /// <summary>Every published blob, least recently used first.</summary>
    public IReadOnlyList<ContentStoreEntry> List()
    {
        lock (_gate)
        {
            return _entries.OrderBy(kv => kv.Value.LastUsed).ThenBy(kv => kv.Key.Hex, StringComparer.Ordinal)
                .Select(kv => new ContentStoreEntry(kv.Key, kv.Value.Size, GetBlobPath(kv.Key), kv.Value.LastUsed)).ToList();
        }
    }

    /// <summary>Serialises writers of one blob (or partial key) within this process.</summary>
    public async Task<IDisposable> LockAsync(string key, CancellationToken cancellationToken = default)
    {
        var gate = _locks.GetOrAdd(key, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new Releaser(gate);
    }

    /// <summary>Keeps a blob from eviction until the returned handle is disposed (a loaded stage pins its file).</summary>
    public IDisposable Pin(ContentHash hash)
    {
        lock (_gate)
            _pins[hash] = _pins.GetValueOrDefault(hash) + 1;
        return new PinHandle(this, hash);
    }

    /// <summary>
    /// Verifies <paramref name="partialPath"/> (its whole SHA-256 must equal <paramref name="expected"/> when given)
    /// and moves it atomically to its place under blobs/. On a mismatch the partial file is deleted and a
    /// <see cref="ChecksumMismatchException"/> thrown: nothing unverified is ever published.
    /// </summary>
    public async Task<ContentHash> PublishAsync(string partialPath, ContentHash? expected, string what, CancellationToken cancellationToken = default)
    {
        var actual = await ContentHash.OfFileAsync(partialPath, cancellationToken).ConfigureAwait(false);
        if (expected is { IsEmpty: false } e && e != actual)
        {
            TryDelete(partialPath);
            Log.ChecksumMismatch(_logger, what, e.Hex, actual.Hex);
            throw new ChecksumMismatchException(what, e, actual);
        }
        PublishVerified(partialPath, actual);
        return actual;
    }

    /// <summary>Brings a local file into the store (<see cref="ImportFileAsync"/>) and returns its hash.</summary>
    public async Task<ContentHash> ImportAsync(string sourcePath, CancellationToken cancellationToken = default) =>
        (await ImportFileAsync(sourcePath, cancellationToken).ConfigureAwait(false)).Hash;

    /// <summary>
    /// Brings a local file into the store: as a hard link when it is on the store's file system (no copy, no space),
    /// else as a copy; nothing when the store holds it already. A linked blob shares the user's file's data, so the store
    /// only ever reads it (hashed through the link, published by renaming the link, never opened for writing) and
    /// removing it removes only the store's name. The log says which was done.
    /// </summary>
    public async Task<ImportResult> ImportFileAsync(string sourcePath, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(sourcePath);
        var link = Path.Combine(PartialDirectory, Guid.NewGuid().ToString("N") + ".import");
        if (_hardLink(sourcePath, link))
        {
            try
            {
                var linked = await ContentHash.OfFileAsync(link, cancellationToken).ConfigureAwait(false);
                using (await LockAsync(linked.Hex, cancellationToken).ConfigureAwait(false))
                {
                    if (TryGet(linked, out _))
                        return Imported(sourcePath, linked, ImportMethod.AlreadyHeld);
                    PublishVerified(link, linked, flush: false);
                    return Imported(sourcePath, linked, ImportMethod.HardLink);
                }
            }
            finally
            {
                TryDelete(link); // unlinks the store's name only, when it was not published
            }
        }

        var hash = await ContentHash.OfFileAsync(sourcePath, cancellationToken).ConfigureAwait(false);
        if (TryGet(hash, out _))
            return Imported(sourcePath, hash, ImportMethod.AlreadyHeld);
        using (await LockAsync(hash.Hex, cancellationToken).ConfigureAwait(false))
        {
            if (Contains(hash))
                return Imported(sourcePath, hash, ImportMethod.AlreadyHeld);
            var partial = GetPartialPath(hash) + ".import";
            await using (var source = new FileStream(sourcePath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.Asynchronous | FileOptions.SequentialScan))
            await using (var target = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20, FileOptions.Asynchronous))
                await source.CopyToAsync(target, cancellationToken).ConfigureAwait(false);
            await PublishAsync(partial, hash, sourcePath, cancellationToken).ConfigureAwait(false);
            return Imported(sourcePath, hash, ImportMethod.Copy);
        }
    }

    private ImportResult Imported(string source, ContentHash hash, ImportMethod method)
    {
        Log.Imported(_logger, source, hash.Hex, method switch
        {
            ImportMethod.HardLink => "by hard link, no copy",
            ImportMethod.Copy => "by copy (not on the store's file system, or links refused)",
            _ => "already held",
        });
        return new ImportResult(hash, method);
    }

    /// <summary>
    /// The chunk manifest of a held blob, computed once per chunk size and kept under manifests/.
    /// Throws <see cref="FileNotFoundException"/> when the blob is not held.
    /// </summary>
    public async Task<ChunkManifest> GetManifestAsync(ContentHash hash, int chunkSize = ChunkManifest.DefaultChunkSize, CancellationToken cancellationToken = default)
    {
        if (!TryGet(hash, out var path))
            throw new FileNotFoundException($"This cache holds no blob sha256:{hash}.");
        if (!ChunkManifest.IsAllowedChunkSize(chunkSize))
            throw new ArgumentOutOfRangeException(nameof(chunkSize), chunkSize, ChunkManifest.ChunkSizeRule);
        var manifestPath = Path.Combine(ManifestDirectory, $"{hash.Hex}.{chunkSize}.json");
        // A cached manifest is trusted only for a blob checked since the store opened; computing one checks the blob.
        if (IsVerified(hash) && File.Exists(manifestPath))
        {
            try
            {
                var cached = ChunkManifest.FromJson(await File.ReadAllTextAsync(manifestPath, cancellationToken).ConfigureAwait(false));
                if (cached.Hash == hash && cached.ChunkSize == chunkSize)
                    return cached;
            }
            catch (Exception e) when (e is FormatException or IOException)
            {
                // Recompute below.
            }
        }
        // One computation per blob and chunk size at a time, however many clients ask at once (each would read the whole blob).
        var key = (hash, chunkSize);
        // GetOrAdd may run its factory on several threads at once and keep one result: the Lazy makes sure only the kept
        // one starts a computation (a discarded Task.Run would still hash the blob and write a manifest of its own).
        var build = _manifestBuilds.GetOrAdd(key, k => new Lazy<Task<ChunkManifest>>(() => Task.Run(() => BuildManifestAsync(k.Hash, path, k.ChunkSize, manifestPath))));
        try
        {
            return await build.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (build.Value.IsCompleted)
                _manifestBuilds.TryRemove(new KeyValuePair<(ContentHash, int), Lazy<Task<ChunkManifest>>>(key, build));
        }
    }

    private async Task<ChunkManifest> BuildManifestAsync(ContentHash hash, string path, int chunkSize, string manifestPath)
    {
        var manifest = await ChunkManifest.ComputeAsync(path, chunkSize, CancellationToken.None).ConfigureAwait(false);
        if (manifest.Hash != hash)
        {
            // The blob changed on disk after it was published: it can no longer be trusted.
            Remove(hash);
            throw new ChecksumMismatchException($"cached blob {path}", hash, manifest.Hash);
        }
        MarkVerified(hash);
        var temp = manifestPath + "." + Guid.NewGuid().ToString("N") + ".tmp";
        await File.WriteAllTextAsync(temp, manifest.ToJson(), CancellationToken.None).ConfigureAwait(false);
        File.Move(temp, manifestPath, overwrite: true);
        return manifest;
    }

    /// <summary>Removes a blob (and its manifests); false when it was not held.</summary>
    public bool Remove(ContentHash hash)
    {
        lock (_gate)
        {
            if (!_entries.Remove(hash, out var entry))
                return false;
            _totalBytes -= entry.Size;
        }
        DeleteBlobFiles(hash);
        return true;
    }

    /// <summary>
    /// Evicts least recently used, unpinned blobs until <paramref name="bytesNeeded"/> more bytes fit in the budget.
    /// Returns the bytes freed. Blobs that are pinned are never evicted, so the store may stay over budget.
    /// </summary>
    public long EnsureSpace(long bytesNeeded = 0, ContentHash? keep = null)
    {
        var victims = new List<(ContentHash Hash, long Size)>();
        lock (_gate)
        {
            var excess = _totalBytes + bytesNeeded - MaxBytes;
            if (excess <= 0)
                return 0;
            foreach (var (hash, entry) in _entries.OrderBy(kv => kv.Value.LastUsed).ThenBy(kv => kv.Key.Hex, StringComparer.Ordinal))
            {
                if (excess <= 0)
                    break;
                if (_pins.ContainsKey(hash) || hash == keep || IsHeld(hash))
                    continue;
                victims.Add((hash, entry.Size));
                excess -= entry.Size;
            }
            foreach (var (hash, size) in victims)
            {
                _entries.Remove(hash);
                _totalBytes -= size;
            }
        }
        long freed = 0;
        foreach (var (hash, size) in victims)
        {
            DeleteBlobFiles(hash);
            Log.Evicted(_logger, hash.Hex, size);
            freed += size;
        }
        return freed;
    }

    /// <summary>
    /// Keeps a blob from eviction for <paramref name="holder"/> (a name such as <c>batch-file:ID</c>) until
    /// <see cref="Release"/>: unlike <see cref="Pin"/>, a hold is a file on disk, so it survives restarts and is seen by
    /// every process sharing the store. Held blobs count against the budget but are never evicted. Idempotent.
    /// </summary>
    public void Hold(ContentHash hash, string holder)
    {
        ArgumentException.ThrowIfNullOrEmpty(holder);
        var path = HoldPath(hash, holder);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, holder + "\n");
    }

    /// <summary>
    /// Drops <paramref name="holder"/>'s hold. When no hold and no pin is left, the blob is removed at once (its bytes
    /// were kept for the holders, not as a cache). Returns whether the blob was removed.
    /// </summary>
    public bool Release(ContentHash hash, string holder)
    {
        ArgumentException.ThrowIfNullOrEmpty(holder);
        TryDelete(HoldPath(hash, holder));
        var folder = Path.Combine(HoldDirectory, hash.Hex);
        try
        {
            Directory.Delete(folder); // only when empty
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false; // another holder still has it, or it was never held
        }
        lock (_gate)
        {
            if (_pins.ContainsKey(hash))
                return false;
        }
        return Remove(hash);
    }

    /// <summary>Whether any holder has a hold on the blob (read from disk: holds made by other processes count).</summary>
    public bool IsHeld(ContentHash hash)
    {
        var folder = Path.Combine(HoldDirectory, hash.Hex);
        try
        {
            return Directory.Exists(folder) && Directory.EnumerateFiles(folder).Any();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return true; // cannot tell: keep it
        }
    }

    /// <summary>
    /// Writes <paramref name="source"/> into the store and holds the blob for <paramref name="holder"/> before it is
    /// published, so no eviction can take it in between. A stream that fails or is cancelled leaves nothing behind.
    /// Returns the hash and size.
    /// </summary>
    public async Task<(ContentHash Hash, long Size)> AddHeldAsync(Stream source, string holder, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        var partial = Path.Combine(PartialDirectory, Guid.NewGuid().ToString("N") + ".import");
        try
        {
            ContentHash hash;
            long size = 0;
            await using (var target = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
                var buffer = new byte[1 << 16];
                int read;
                while ((read = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    size += read;
                    sha.AppendData(buffer, 0, read);
                    await target.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                }
                hash = ContentHash.FromBytes(sha.GetHashAndReset());
            }
            Hold(hash, holder);
            using (await LockAsync(hash.Hex, cancellationToken).ConfigureAwait(false))
                PublishVerified(partial, hash);
            return (hash, size);
        }
        finally
        {
            TryDelete(partial); // gone already when it was published
        }
    }

    /// <summary>Records that <paramref name="name"/> (an hf:// address, a slice key) resolves to <paramref name="hash"/>.</summary>
    public void SetRef(string name, ContentHash hash)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var path = RefPath(name);
        var temp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        File.WriteAllText(temp, hash.Hex + "\n" + name + "\n");
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>The hash recorded for <paramref name="name"/>; the blob itself may since have been evicted.</summary>
    public bool TryGetRef(string name, out ContentHash hash)
    {
        hash = default;
        var path = RefPath(name);
        try
        {
            var lines = File.ReadAllLines(path);
            return lines.Length >= 2 && lines[1] == name && ContentHash.TryParse(lines[0], out hash);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// Gives a held blob a name under <see cref="NameDirectory"/> (<paramref name="relativePath"/>, '/'-separated, each
    /// part already checked to stay inside it): a symbolic link to the blob, so an evicted blob leaves a dangling link
    /// that no listing takes for a model, never bytes outside the budget. Returns the name's full path.
    /// </summary>
    public string SetName(string relativePath, ContentHash hash)
    {
        ArgumentException.ThrowIfNullOrEmpty(relativePath);
        var path = Path.GetFullPath(Path.Combine(NameDirectory, relativePath));
        if (!path.StartsWith(NameDirectory + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ArgumentException($"'{relativePath}' is not a name inside {NameDirectory}.", nameof(relativePath));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var blob = GetBlobPath(hash);
        if (new FileInfo(path).LinkTarget == blob)
            return path;
        // A new link renamed over the old one: a reader never finds the name missing or half made.
        var temp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        File.CreateSymbolicLink(temp, blob);
        File.Move(temp, path, overwrite: true);
        return path;
    }

    /// <summary>The names under <see cref="NameDirectory"/>/<paramref name="relativeFolder"/> whose blob is held, '/'-separated and relative to that folder.</summary>
    public IReadOnlyList<string> ListNames(string relativeFolder)
    {
        var folder = Path.GetFullPath(Path.Combine(NameDirectory, relativeFolder));
        if (!folder.StartsWith(NameDirectory + Path.DirectorySeparatorChar, StringComparison.Ordinal) || !Directory.Exists(folder))
            return [];
        return Directory.GetFiles(folder, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, MaxRecursionDepth = 16 })
            .Where(File.Exists) // a link whose blob was evicted names nothing
            .Select(f => Path.GetRelativePath(folder, f).Replace('\\', '/')).Order(StringComparer.Ordinal).ToList();
    }

    /// <param name="flush">False for a hard link to a user's file: its data is theirs and already on disk, and flushing
    /// would open it for writing.</param>
    internal void PublishVerified(string partialPath, ContentHash hash, bool flush = true)
    {
        var target = GetBlobPath(hash);
        var size = new FileInfo(partialPath).Length;
        lock (_gate)
        {
            if (_entries.ContainsKey(hash))
            {
                TryDelete(partialPath);
                _entries[hash].LastUsed = _time.GetUtcNow();
                return;
            }
            // On disk before it is published: a power cut never leaves a blob whose name promises bytes it lacks.
            if (flush)
                FlushToDisk(partialPath);
            File.Move(partialPath, target, overwrite: true);
            _entries[hash] = new Entry(size, _time.GetUtcNow()) { Verified = true };
            _totalBytes += size;
        }
        TouchFile(target, _time.GetUtcNow());
        Log.Published(_logger, hash.Hex, size);
        EnsureSpace(0, hash);
    }

    private string HoldPath(ContentHash hash, string holder) =>
        Path.Combine(HoldDirectory, hash.Hex, ContentHash.Of(Encoding.UTF8.GetBytes(holder)).Hex);

    private string RefPath(string name) => Path.Combine(RefDirectory, ContentHash.Of(Encoding.UTF8.GetBytes(name)).Hex);

    private void Scan()
    {
        foreach (var file in new DirectoryInfo(BlobDirectory).EnumerateFiles())
        {
            if (!ContentHash.TryParse(file.Name, out var hash) || hash.Hex != file.Name)
                continue;
            _entries[hash] = new Entry(file.Length, new DateTimeOffset(file.LastAccessTimeUtc, TimeSpan.Zero));
            _totalBytes += file.Length;
        }
        // Leftovers of imports and manifest writes interrupted by a crash; download partials stay for resume.
        foreach (var file in new DirectoryInfo(PartialDirectory).EnumerateFiles("*.import"))
            TryDelete(file.FullName);
        foreach (var file in new DirectoryInfo(ManifestDirectory).EnumerateFiles("*.tmp"))
            TryDelete(file.FullName);
    }

    private void DeleteBlobFiles(ContentHash hash)
    {
        TryDelete(GetBlobPath(hash));
        foreach (var manifest in Directory.EnumerateFiles(ManifestDirectory, hash.Hex + ".*"))
            TryDelete(manifest);
    }

    private static void TouchFile(string path, DateTimeOffset now)
    {
        try
        {
            File.SetLastAccessTimeUtc(path, now.UtcDateTime);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: the in-memory order is what eviction uses while the process lives.
        }
    }

    private bool IsVerified(ContentHash hash)
    {
        lock (_gate)
            return _entries.TryGetValue(hash, out var entry) && entry.Verified;
    }

    private void MarkVerified(ContentHash hash)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(hash, out var entry))
                entry.Verified = true;
        }
    }

    private static void FlushToDisk(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        file.Flush(flushToDisk: true);
    }

    internal static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort.
        }
    }

    private void Unpin(ContentHash hash)
    {
        lock (_gate)
        {
            if (!_pins.TryGetValue(hash, out var n))
                return;
            if (n <= 1)
                _pins.Remove(hash);
            else
                _pins[hash] = n - 1;
        }
    }

    private sealed class Entry(long size, DateTimeOffset lastUsed)
    {
        public long Size { get; } = size;

        public DateTimeOffset LastUsed { get; set; } = lastUsed;

        /// <summary>Its content was hashed by this process (published, or checked after the store opened).</summary>
        public bool Verified { get; set; }
    }

    private sealed class Releaser(SemaphoreSlim gate) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
                gate.Release();
        }
    }

    private sealed class PinHandle(ContentStore store, ContentHash hash) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
                store.Unpin(hash);
        }
    }
}
