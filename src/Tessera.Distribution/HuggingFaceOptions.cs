namespace Tessera.Distribution;

/// <summary>Where and how <see cref="HuggingFaceDownloader"/> reaches Hugging Face.</summary>
public sealed class HuggingFaceOptions
{
    public static readonly Uri DefaultEndpoint = new("https://huggingface.co");

    /// <summary>
    /// 256 GiB: more than any GGUF file people download today, so the limit stops hostile or broken servers (an endless
    /// body, a size that is a lie), never a real model.
    /// </summary>
    public const long DefaultMaxDownloadBytes = 256L << 30;

    /// <summary>The hub's base address: $TESSERA_HF_ENDPOINT, else $HF_ENDPOINT, else https://huggingface.co.</summary>
    public Uri Endpoint { get; set; } = DefaultEndpoint;

    /// <summary>
    /// Access token sent as a Bearer header to the hub (never to the CDN it redirects to): $HF_TOKEN, else the token file
    /// huggingface_hub's login writes (<see cref="TokenFile"/>).
    /// </summary>
    public string? Token { get; set; }

    /// <summary>Where <see cref="Token"/> came from, for messages: "HF_TOKEN", the token file's path, or null.</summary>
    public string? TokenSource { get; set; }

    /// <summary>
    /// Never touch the network ($HF_HUB_OFFLINE=1): only files already cached are used, and one that is not is an error
    /// naming the variable.
    /// </summary>
    public bool Offline { get; set; }

    /// <summary>Attempts, each resuming where the last stopped, before a download gives up (resumable later).</summary>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>Pause before a retry, doubled per attempt.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>A download that receives nothing for this long is treated as a lost connection.</summary>
    public TimeSpan StallTimeout { get; set; } = TimeSpan.FromSeconds(60);

    public int MaxRedirects { get; set; } = 10;

    /// <summary>
    /// The largest file a download may bring (default <see cref="DefaultMaxDownloadBytes"/>): refused before it starts
    /// when its announced size is larger, stopped as soon as the server sends more. The content store's own limit
    /// (<see cref="ContentStore.MaxBytes"/>) applies as well.
    /// </summary>
    public long MaxDownloadBytes { get; set; } = DefaultMaxDownloadBytes;

    /// <summary>This process's environment and home folder (<see cref="FromEnvironment(Func{string, string?}, string)"/>).</summary>
    public static HuggingFaceOptions FromEnvironment() =>
        FromEnvironment(Environment.GetEnvironmentVariable, Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));

    /// <summary>
    /// Options as huggingface_hub reads them from <paramref name="environment"/>: the endpoint from TESSERA_HF_ENDPOINT or
    /// HF_ENDPOINT; the token from HF_TOKEN (or HUGGING_FACE_HUB_TOKEN), else the file <see cref="TokenFile"/> names;
    /// offline when HF_HUB_OFFLINE is 1, true, yes or on.
    /// </summary>
    public static HuggingFaceOptions FromEnvironment(Func<string, string?> environment, string home)
    {
        ArgumentNullException.ThrowIfNull(environment);
        string? Env(string name) => environment(name) is { } v && v.Trim() is { Length: > 0 } t ? t : null;
        var options = new HuggingFaceOptions();
        var endpoint = Env("TESSERA_HF_ENDPOINT") ?? Env("HF_ENDPOINT");
        if (endpoint != null)
        {
            if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
                throw new FormatException($"TESSERA_HF_ENDPOINT/HF_ENDPOINT '{endpoint}' is not an http(s) address.");
            options.Endpoint = uri;
        }
        if ((Env("HF_TOKEN") ?? Env("HUGGING_FACE_HUB_TOKEN")) is { } token)
            (options.Token, options.TokenSource) = (token, "HF_TOKEN");
        else if (ReadToken(TokenFile(Env, home)) is { } stored)
            (options.Token, options.TokenSource) = (stored, TokenFile(Env, home));
        options.Offline = Env("HF_HUB_OFFLINE")?.ToUpperInvariant() is "1" or "TRUE" or "YES" or "ON";
        return options;
    }

    /// <summary>
    /// The token file <c>huggingface-cli login</c> writes: $HF_TOKEN_PATH, else $HF_HOME/token, else
    /// $XDG_CACHE_HOME/huggingface/token, else ~/.cache/huggingface/token.
    /// </summary>
    public static string TokenFile(Func<string, string?> environment, string home)
    {
        ArgumentNullException.ThrowIfNull(environment);
        static string? NonEmpty(string? v) => string.IsNullOrWhiteSpace(v) ? null : v.Trim();
        var hfHome = NonEmpty(environment("HF_HOME"))
            ?? Path.Combine(NonEmpty(environment("XDG_CACHE_HOME")) ?? Path.Combine(home, ".cache"), "huggingface");
        return NonEmpty(environment("HF_TOKEN_PATH")) ?? Path.Combine(hfHome, "token");
    }

    /// <summary>The token in <paramref name="path"/> (its first line, trimmed), or null when there is none or it cannot be read.</summary>
    private static string? ReadToken(string path)
    {
        try
        {
            return File.Exists(path) && File.ReadLines(path).FirstOrDefault()?.Trim() is { Length: > 0 } token ? token : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
