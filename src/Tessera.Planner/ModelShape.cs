namespace Tessera.Planner;

/// <summary>The hyper-parameters of a model that placement depends on (the rest comes from tensor sizes).</summary>
/// <param name="Name">A name for logs and messages.</param>
/// <param name="BlockCount">Number of transformer blocks (layers).</param>
/// <param name="EmbeddingLength">Hidden size: the width of the activation sent between stages.</param>
/// <param name="KvWidth">Key (and value) width per layer: key/value heads x head size.</param>
/// <param name="VocabSize">Vocabulary size (logits buffer of the last stage).</param>
/// <param name="KvBytesPerElement">Bytes per cached key or value element: 4 (the engine caches f32 today).</param>
/// <param name="ExpertCount">Experts of a mixture-of-experts block (0: dense).</param>
/// <param name="ExpertsUsed">Experts a token goes through.</param>
public sealed record ModelShape(string Name, int BlockCount, int EmbeddingLength, int KvWidth, int VocabSize, int KvBytesPerElement = 4,
    int ExpertCount = 0, int ExpertsUsed = 0);
