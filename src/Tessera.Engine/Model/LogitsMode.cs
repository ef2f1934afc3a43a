namespace Tessera.Engine.Model;

/// <summary>Which positions the last stage computes logits for.</summary>
public enum LogitsMode
{
    /// <summary>Only each sequence's last position (generation).</summary>
    LastPerSequence,

    /// <summary>Every position (scoring, teacher forcing).</summary>
    All,
}
