using Tessera.Engine.Model;

namespace Tessera.Engine.Backends;

/// <summary>The float operations of <see cref="CpuBackend"/>: norm, activation, rotary embedding, attention.</summary>
public sealed partial class CpuBackend
{
    private float[] _scores = [];

    public void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, int tokens, float eps) =>
        FloatKernels.RmsNorm(x, weight, y, tokens, eps);

    public void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output) =>
        FloatKernels.SwiGlu(gate, up, output);

    public void Rope(Span<float> x, int tokens, int heads, int headDim, int startPosition, RopeTable table) =>
        FloatKernels.Rope(x, tokens, heads, headDim, startPosition, table);

    public void Attention(ReadOnlySpan<float> queries, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output, in AttentionShape shape)
    {
        var visible = shape.StartPosition + shape.Tokens;
        if (_scores.Length < visible)
            _scores = new float[Math.Max(visible, _scores.Length * 2)];
        FloatKernels.Attention(queries, keys, values, output, shape, 0, shape.Heads, _scores);
    }
}
