namespace Tessera.Generation;

/// <summary>
/// How the final-normed hidden states of an input's positions become one vector. The numbers are llama.cpp's
/// (<c>{arch}.pooling_type</c> in GGUF metadata, and <c>SessionOpen.pooling</c> on the stage protocol).
/// </summary>
public enum EmbeddingPooling
{
    /// <summary>The average over every position of the input.</summary>
    Mean = 1,

    /// <summary>The first position (the BOS or CLS token).</summary>
    Cls = 2,

    /// <summary>The last position.</summary>
    Last = 3,
}

/// <summary>What an embedding request asks beyond its inputs.</summary>
public sealed record EmbeddingOptions
{
    /// <summary>The pooling; null: the model's declared pooling, else <see cref="EmbeddingPooling.Mean"/>.</summary>
    public EmbeddingPooling? Pooling { get; init; }

    /// <summary>The width the client wants (OpenAI's <c>dimensions</c>); null: the model's. Only the model's width is served.</summary>
    public int? Dimensions { get; init; }
}

/// <summary>One L2-normalised vector per input, in the inputs' order, and the tokens they held.</summary>
public sealed record EmbeddingResult(IReadOnlyList<float[]> Vectors, int PromptTokens);

/// <summary>The one check of an embedding request and the rules every service shares.</summary>
public static class EmbeddingRequest
{
    /// <summary>Inputs one request may hold (OpenAI's bound).</summary>
    public const int MaxInputs = 2048;

    /// <summary>
    /// Throws <see cref="ArgumentException"/> whose <see cref="ArgumentException.ParamName"/> is the API field at fault
    /// (<c>input</c>, <c>dimensions</c>, <c>pooling</c>) when the request cannot run on a model of <paramref name="width"/>
    /// with a context of <paramref name="contextLength"/> positions and <paramref name="vocabularySize"/> tokens.
    /// </summary>
    public static void Validate(IReadOnlyList<int[]> inputs, EmbeddingOptions options, int contextLength, int vocabularySize, int width)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(options);
        if (inputs.Count == 0)
            throw new ArgumentException("input must hold at least one input.", "input");
        if (inputs.Count > MaxInputs)
            throw new ArgumentException($"input holds {inputs.Count} inputs; at most {MaxInputs} are allowed in one request.", "input");
        if (options.Pooling is { } pooling && !Enum.IsDefined(pooling))
            throw new ArgumentException($"pooling {(int)pooling} is not one of mean, cls or last.", "pooling");
        if (options.Dimensions is { } dimensions && dimensions != width)
            throw new ArgumentException($"dimensions must be {width}, the width of this model's embeddings: it cannot shorten them (got {dimensions}).", "dimensions");
        for (var i = 0; i < inputs.Count; i++)
        {
            var input = inputs[i] ?? throw new ArgumentException($"input[{i}] is null.", "input");
            if (input.Length == 0)
                throw new ArgumentException($"input[{i}] is empty.", "input");
            if (input.Length > contextLength)
                throw new ArgumentException($"input[{i}] has {input.Length} tokens, more than this model's context of {contextLength} tokens.", "input");
            foreach (var id in input)
            {
                if ((uint)id >= (uint)vocabularySize)
                    throw new ArgumentException($"input[{i}] holds token id {id}, outside the model's vocabulary (0 to {vocabularySize - 1}).", "input");
            }
        }
    }

    /// <summary>
    /// The pooling a request gets: the one it asked for, else the model's declared one (llama.cpp's
    /// <c>pooling_type</c>: 1 mean, 2 cls, 3 last; none, rank or absent fall back to mean).
    /// </summary>
    public static EmbeddingPooling Resolve(EmbeddingPooling? requested, int? declared) =>
        requested ?? (declared is >= 1 and <= 3 ? (EmbeddingPooling)declared.Value : EmbeddingPooling.Mean);

    /// <summary>Scales <paramref name="vector"/> to unit length (llama.cpp's <c>embd_normalize</c> 2); a zero vector stays zero.</summary>
    public static void Normalize(Span<float> vector)
    {
        var sum = 0.0;
        foreach (var v in vector)
            sum += (double)v * v;
        var scale = sum > 0 ? (float)(1.0 / Math.Sqrt(sum)) : 0f;
        for (var i = 0; i < vector.Length; i++)
            vector[i] *= scale;
    }
}
