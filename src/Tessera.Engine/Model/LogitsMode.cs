namespace Tessera.Engine.Model;

/// <summary>Which positions the last stage computes logits for.</summary>
public enum LogitsMode
{
    /// <summary>Only each sequence's last position (generation).</summary>
    LastPerSequence,

    /// <summary>Every position (scoring, teacher forcing).</summary>
    All,

    /// <summary>
    /// No logits: every position's hidden state after the model's final norm (llama.cpp's <c>result_norm</c>), tokens x
    /// embedding floats, what embeddings are pooled from. The head is not run.
    /// </summary>
    NormedHidden,
}
