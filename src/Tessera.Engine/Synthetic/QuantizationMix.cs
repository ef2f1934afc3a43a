using Tessera.Engine.Tensors;

namespace Tessera.Engine.Synthetic;

/// <summary>
/// Which type each weight matrix of a synthetic model is written in: one type for every matrix (<see cref="Pure"/>), or
/// a mixture chosen per tensor as llama.cpp's <c>llama_tensor_get_type</c> chooses it for a file type, so a synthetic
/// file holds the mix of types a downloaded file of that name holds.
/// </summary>
public sealed class QuantizationMix
{
    private readonly Func<TensorRole, int, ModelShape, GgmlType> _choose;
    private readonly Func<GgmlType, GgmlType> _fallback;

    private QuantizationMix(string name, GgmlType baseType, Func<TensorRole, int, ModelShape, GgmlType> choose, Func<GgmlType, GgmlType> fallback)
    {
        Name = name;
        BaseType = baseType;
        _choose = choose;
        _fallback = fallback;
    }

    /// <summary>The name <c>model synth --type</c> takes (a type's name, or a mixture's such as Q3_K_M).</summary>
    public string Name { get; }

    /// <summary>The type of the matrices the mixture does not single out.</summary>
    public GgmlType BaseType { get; }

    /// <summary>Every matrix in <paramref name="type"/>; rows that are not a whole number of its blocks fall back to Q8_0.</summary>
    public static QuantizationMix Pure(GgmlType type) =>
        new(type.ToString(), type, (_, _, _) => type, _ => GgmlType.Q8_0);

    /// <summary>
    /// llama.cpp's Q3_K_M for a Llama-style model: Q3_K, except the output (Q6_K), attn_v (Q5_K in the first two
    /// blocks, then Q4_K), attn_output (Q4_K) and ffn_down (Q5_K in the first sixteenth of the blocks, then Q4_K). With 8
    /// experts, attn_v and attn_k are Q8_0 and attn_output Q5_K. Rows that are not a whole number of a type's blocks fall
    /// back as llama.cpp's do (Q3_K to Q4_0, Q4_K to Q5_0, Q5_K to Q5_1, Q6_K to Q8_0).
    /// </summary>
    public static QuantizationMix Q3_K_M { get; } = new("Q3_K_M", GgmlType.Q3_K, ChooseQ3KM, LlamaFallback);

    /// <summary>The mixtures <see cref="Parse"/> knows besides the pure types.</summary>
    public static IReadOnlyList<QuantizationMix> Mixtures { get; } = [Q3_K_M];

    /// <summary>
    /// The type of a matrix of <paramref name="role"/> in block <paramref name="layer"/> (0 for the embedding and the
    /// output) whose rows have <paramref name="cols"/> values.
    /// </summary>
    public GgmlType TypeFor(TensorRole role, int layer, int cols, ModelShape shape)
    {
        var type = _choose(role, layer, shape);
        return cols % GgmlTypeInfo.BlockSize(type) == 0 ? type : _fallback(type);
    }

    /// <summary>A mixture's name (Q3_K_M) or a type among <paramref name="pureTypes"/> (q4_k, Q8_0; dashes for underscores).</summary>
    public static QuantizationMix Parse(string text, IReadOnlyCollection<GgmlType> pureTypes)
    {
        var name = text.Replace('-', '_');
        if (Mixtures.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase)) is { } mix)
            return mix;
        if (Enum.TryParse<GgmlType>(name, ignoreCase: true, out var type) && pureTypes.Contains(type))
            return Pure(type);
        throw new ArgumentException(
            $"Unknown or unsupported type '{text}'; use one of {string.Join(", ", pureTypes)} or a mixture: {string.Join(", ", Mixtures.Select(m => m.Name))}.");
    }

    public override string ToString() => Name;

    private static GgmlType ChooseQ3KM(TensorRole role, int layer, ModelShape shape)
    {
        var eightExperts = shape.ExpertCount == 8;
        return role switch
        {
            TensorRole.Output => GgmlType.Q6_K,
            TensorRole.AttentionV => eightExperts ? GgmlType.Q8_0 : layer < 2 ? GgmlType.Q5_K : GgmlType.Q4_K,
            TensorRole.AttentionK when eightExperts => GgmlType.Q8_0,
            TensorRole.AttentionOutput => eightExperts ? GgmlType.Q5_K : GgmlType.Q4_K,
            TensorRole.FeedForwardDown => layer < shape.BlockCount / 16 ? GgmlType.Q5_K : GgmlType.Q4_K,
            _ => GgmlType.Q3_K,
        };
    }

    private static GgmlType LlamaFallback(GgmlType type) => type switch
    {
        GgmlType.Q2_K or GgmlType.Q3_K => GgmlType.Q4_0,
        GgmlType.Q4_K => GgmlType.Q5_0,
        GgmlType.Q5_K => GgmlType.Q5_1,
        GgmlType.Q6_K => GgmlType.Q8_0,
        GgmlType.IQ4_XS => GgmlType.IQ4_NL,
        _ => GgmlType.Q8_0,
    };
}
