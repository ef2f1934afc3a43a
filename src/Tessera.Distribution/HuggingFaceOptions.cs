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

    /// <summary>Access token sent as a Bearer header to the hub (never to the CDN it redirects to): $HF_TOKEN.</summary>
    public string? Token { get; set; }

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

    /// <summary>Options from the environment (TESSERA_HF_ENDPOINT or HF_ENDPOINT, HF_TOKEN or HUGGING_FACE_HUB_TOKEN).</summary>
    public static HuggingFaceOptions FromEnvironment()
    {
        var options = new HuggingFaceOptions();
        var endpoint = Env("TESSERA_HF_ENDPOINT") ?? Env("HF_ENDPOINT");
        if (endpoint != null)
        {
            if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
                throw new FormatException($"TESSERA_HF_ENDPOINT/HF_ENDPOINT '{endpoint}' is not an http(s) address.");
            options.Endpoint = uri;
        }
        options.Token = Env("HF_TOKEN") ?? Env("HUGGING_FACE_HUB_TOKEN");
        return options;
    }

    private static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v.Trim() : null;
}
