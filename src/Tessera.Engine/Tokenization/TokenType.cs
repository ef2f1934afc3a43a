namespace Tessera.Engine.Tokenization;

/// <summary>A token's type as stored in <c>tokenizer.ggml.token_type</c>.</summary>
public enum TokenType
{
    Undefined = 0,
    Normal = 1,

    /// <summary>The unknown token (<c>&lt;unk&gt;</c>); rendered only when special tokens are rendered.</summary>
    Unknown = 2,

    /// <summary>Control tokens (<c>&lt;s&gt;</c>, <c>&lt;|im_start|&gt;</c>); parsed from text only when asked.</summary>
    Control = 3,

    /// <summary>Tokens added by the model's authors; always split out of text and rendered verbatim.</summary>
    UserDefined = 4,

    Unused = 5,

    /// <summary>Byte fallback tokens (<c>&lt;0x0A&gt;</c>).</summary>
    Byte = 6,
}

/// <summary>Which algorithm a <see cref="Tokenizer"/> runs.</summary>
public enum TokenizerKind
{
    /// <summary><c>tokenizer.ggml.model = "llama"</c>: SentencePiece with byte fallback (Llama 2, Mistral, Phi-3).</summary>
    SentencePiece,

    /// <summary><c>tokenizer.ggml.model = "gpt2"</c>: byte-level BPE with merges (GPT-2, Llama 3, Qwen 2).</summary>
    BytePairEncoding,
}

/// <summary>llama.cpp's per-token attributes (its <c>llama_token_attr</c> bits), derived from the token type.</summary>
[Flags]
internal enum TokenAttributes
{
    Undefined = 0,
    Unknown = 1 << 0,
    Unused = 1 << 1,
    Normal = 1 << 2,
    Control = 1 << 3,
    UserDefined = 1 << 4,
    Byte = 1 << 5,
    LStrip = 1 << 7,
    RStrip = 1 << 8,
}
