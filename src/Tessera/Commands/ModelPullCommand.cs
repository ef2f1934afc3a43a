using System.CommandLine;
using Spectre.Console;
using Tessera.Distribution;
using Tessera.Pool;

namespace Tessera.Cli.Commands;

/// <summary>
/// <c>tessera model pull</c>: brings a model file into the local content-addressed cache, from Hugging Face
/// (<c>hf://owner/repo/file.gguf</c>, <c>hf://owner/repo:Q4_K_M</c>; every part of a split model), from content servers by hash (<c>sha256:HEX --from URL</c>) or from a local
/// path, with a progress bar; interrupted pulls resume where they stopped. Prints the cached path and SHA-256.
/// </summary>
internal static class ModelPullCommand
{
    public static Command Create()
    {
        var source = new Argument<string>("MODEL")
        {
            Description = "hf://owner/repo/file.gguf (optionally hf://owner/repo@revision/file.gguf), hf://owner/repo:Q4_K_M (the repository's " +
                "file of that quantization; without a tag its only model, else its Q4_K_M one), sha256:HEX with --from, or a local GGUF path. " +
                "A split model (NAME-00001-of-0000N.gguf) is pulled whole.",
        };
        var cacheDir = new Option<string?>("--cache-dir") { Description = "Cache directory (default $TESSERA_CACHE_DIR, else $TESSERA_HOME/cache, else ~/.tessera/cache)." };
        var from = new Option<string[]>("--from")
        {
            Description = "Content server (coordinator or agent) to fetch a sha256: blob from; repeat for alternatives, preferred first.",
            AllowMultipleArgumentsPerToken = true,
        };
        var maxDownload = PoolCli.MaxDownloadOption();
        var command = new Command("pull", "Download a model into the local cache (resumable, verified by SHA-256) and print its path and hash.")
        {
            source, cacheDir, from, maxDownload,
        };
        command.SetAction((result, cancellationToken) => CliErrors.RunAsync(() =>
            PullAsync(result.GetValue(source)!, result.GetValue(cacheDir), result.GetValue(from) ?? [], MaxDownloadBytes(result.GetValue(maxDownload)), cancellationToken)));
        return command;
    }

    /// <summary>--max-download as bytes; a size that cannot be read is a usage error (exit code 2), like other bad arguments.</summary>
    private static long MaxDownloadBytes(string? text)
    {
        try
        {
            return PoolCli.MaxDownloadBytes(text);
        }
        catch (PoolException e)
        {
            throw new ArgumentException("--max-download: " + e.Message, e);
        }
    }

    private static async Task<int> PullAsync(string model, string? cacheDir, string[] from, long maxDownloadBytes, CancellationToken cancellationToken)
    {
        var store = new ContentStore(string.IsNullOrWhiteSpace(cacheDir) ? ContentStore.DefaultRoot() : cacheDir);
        var console = DownloadProgress.ErrorConsole();
        IReadOnlyList<DownloadResult> results;
        try
        {
            results = await DownloadProgress.RunAsync(console, progress => PullCoreAsync(store, model, from, maxDownloadBytes, progress, cancellationToken)).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            console.MarkupLine($"[yellow]Cancelled.[/] What was received and verified is kept in {Markup.Escape(store.Root)}; run the same command again to resume.");
            return 130;
        }

        foreach (var result in results)
        {
            Console.WriteLine(result.Path);
            Console.WriteLine("sha256:" + result.Hash);
        }
        var parts = results.Count > 1 ? $", {results.Count} parts" : "";
        console.MarkupLine($"[green]{(results.All(r => r.FromCache) ? "already cached" : "pulled")}[/] {Markup.Escape(model)} ({Format.Bytes(results.Sum(r => r.Size))}{parts})");
        return 0;
    }

    private static async Task<IReadOnlyList<DownloadResult>> PullCoreAsync(ContentStore store, string model, string[] from, long maxDownloadBytes,
        IProgress<TransferProgress> progress, CancellationToken cancellationToken)
    {
        if (HuggingFaceUri.IsHuggingFace(model))
        {
            var hub = HuggingFaceOptions.FromEnvironment();
            hub.MaxDownloadBytes = maxDownloadBytes;
            using var downloader = new HuggingFaceDownloader(store, hub);
            return (await downloader.DownloadModelAsync(model, progress, cancellationToken).ConfigureAwait(false)).Parts;
        }

        if (ContentHash.TryParse(model, out var hash) && model.StartsWith("sha256:", StringComparison.OrdinalIgnoreCase))
        {
            var wasCached = store.Contains(hash);
            var sources = from.Select(ParseSource).ToList();
            using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
            var client = new TransferClient(http, store);
            var path = await client.FetchAsync(hash, sources, progress, cancellationToken).ConfigureAwait(false);
            return [new DownloadResult(path, hash, new FileInfo(path).Length, wasCached)];
        }

        if (!File.Exists(model))
            throw new FileNotFoundException($"'{model}' is neither an hf:// address, a sha256: hash nor an existing file.");
        var imported = await store.ImportAsync(model, cancellationToken).ConfigureAwait(false);
        var blob = store.GetBlobPath(imported);
        return [new DownloadResult(blob, imported, new FileInfo(blob).Length, FromCache: false)];
    }

    private static Uri ParseSource(string text) =>
        Uri.TryCreate(text, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
            ? uri
            : throw new ArgumentException($"--from '{text}' is not an http(s) address of a content server.");
}
