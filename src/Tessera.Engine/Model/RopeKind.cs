namespace Tessera.Engine.Model;

/// <summary>How rotary embeddings pair dimensions: adjacent pairs (Llama as GGUF stores it) or halves (NeoX, Qwen2).</summary>
public enum RopeKind
{
    Normal,
    NeoX,
}
