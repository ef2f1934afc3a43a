namespace Tessera.Jinja;

/// <summary>
/// How template source is split into text and tags: Jinja's <c>trim_blocks</c>,
/// <c>lstrip_blocks</c> and <c>keep_trailing_newline</c>.
/// </summary>
public sealed record JinjaSyntaxOptions
{
    /// <summary>Jinja's own defaults: no trimming, the final newline of the source dropped.</summary>
    public static JinjaSyntaxOptions Default { get; } = new();

    /// <summary>
    /// What Hugging Face transformers (and llama.cpp) use to render <c>tokenizer.chat_template</c>:
    /// <c>trim_blocks=True, lstrip_blocks=True</c>.
    /// </summary>
    public static JinjaSyntaxOptions HuggingFace { get; } = new() { TrimBlocks = true, LstripBlocks = true };

    /// <summary>Drop the first newline after a block tag (<c>%}</c>) or comment (<c>#}</c>).</summary>
    public bool TrimBlocks { get; init; }

    /// <summary>Drop spaces and tabs between the start of a line and a block tag or comment.</summary>
    public bool LstripBlocks { get; init; }

    /// <summary>Keep a single newline at the very end of the source (Jinja drops it by default).</summary>
    public bool KeepTrailingNewline { get; init; }
}
