using System.Numerics.Tensors;
using Tessera.Engine.Model;

namespace Tessera.Engine.Backends;

/// <summary>
/// The float parts of a transformer layer (norm, activation, attention) as plain functions over spans,
/// vectorised through TensorPrimitives. Backends call them, possibly split across threads.
/// </summary>
public static class FloatKernels
{
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, int tokens, float eps)
    {
        var width = weight.Length;
        for (var t = 0; t < tokens; t++)
        {
            var row = x.Slice(t * width, width);
            var mean = TensorPrimitives.SumOfSquares(row) / width;
            var scale = 1f / MathF.Sqrt(mean + eps);
            var outRow = y.Slice(t * width, width);
            TensorPrimitives.Multiply(row, scale, outRow);
            TensorPrimitives.Multiply(outRow, weight, outRow);
        }
    }

    public static void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output)
    {
        // silu(g) = g * sigmoid(g); output may alias neither input safely, so compute through it.
        TensorPrimitives.Sigmoid(gate, output);
        TensorPrimitives.Multiply(output, gate, output);
        TensorPrimitives.Multiply(output, up, output);
    }

    public static void Rope(Span<float> x, int tokens, int heads, int headDim, int startPosition, RopeTable table)
    {
        var width = heads * headDim;
        for (var t = 0; t < tokens; t++)
            table.Apply(x.Slice(t * width, width), heads, headDim, startPosition + t);
    }

    /// <summary>Attention for the query rows <c>[firstToken, firstToken + tokenCount)</c> and heads <c>[firstHead, firstHead + headCount)</c>.</summary>
    public static void Attention(ReadOnlySpan<float> queries, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output,
        in AttentionShape shape, int firstHead, int headCount, Span<float> scores)
    {
        var qWidth = shape.QueryWidth;
        var kvWidth = shape.KvWidth;
        var d = shape.HeadDim;
        var group = shape.Heads / shape.KvHeads;
        for (var t = 0; t < shape.Tokens; t++)
        {
            var visible = shape.StartPosition + t + 1;
            var s = scores[..visible];
            for (var h = firstHead; h < firstHead + headCount; h++)
            {
                var q = queries.Slice(t * qWidth + h * d, d);
                var kvOffset = h / group * d;
                for (var j = 0; j < visible; j++)
                    s[j] = TensorPrimitives.Dot(q, keys.Slice(j * kvWidth + kvOffset, d)) * shape.Scale;
                TensorPrimitives.SoftMax(s, s);
                var o = output.Slice(t * qWidth + h * d, d);
                o.Clear();
                for (var j = 0; j < visible; j++)
                    TensorPrimitives.MultiplyAdd(values.Slice(j * kvWidth + kvOffset, d), s[j], o, o);
            }
        }
    }
}
