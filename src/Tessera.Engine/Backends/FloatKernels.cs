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

    /// <summary>output = silu(gate) * up; <paramref name="output"/> may be the same memory as <paramref name="gate"/>.</summary>
    public static void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output)
    {
        Span<float> tmp = stackalloc float[256];
        for (var i = 0; i < gate.Length; i += tmp.Length)
        {
            var n = Math.Min(tmp.Length, gate.Length - i);
            var t = tmp[..n];
            var g = gate.Slice(i, n);
            TensorPrimitives.Sigmoid(g, t);
            TensorPrimitives.Multiply(t, g, t);
            TensorPrimitives.Multiply(t, up.Slice(i, n), output.Slice(i, n));
        }
    }

    public static void Rope(Span<float> x, int tokens, int heads, int headDim, int startPosition, RopeTable table)
    {
        var width = heads * headDim;
        for (var t = 0; t < tokens; t++)
            table.Apply(x.Slice(t * width, width), heads, headDim, startPosition + t);
    }

    /// <summary>Rounds every value to the nearest f16 (what llama.cpp's f16 KV cache and f16 matrix inputs hold).</summary>
    public static void RoundToHalf(Span<float> values)
    {
        Span<Half> tmp = stackalloc Half[256];
        for (var i = 0; i < values.Length; i += tmp.Length)
        {
            var n = Math.Min(tmp.Length, values.Length - i);
            var chunk = values.Slice(i, n);
            TensorPrimitives.ConvertToHalf(chunk, tmp[..n]);
            TensorPrimitives.ConvertToSingle(tmp[..n], chunk);
        }
    }

    /// <summary>Rounds every value to the nearest bfloat16 (round half to even on the dropped 16 bits).</summary>
    public static void RoundToBFloat16(Span<float> values)
    {
        foreach (ref var v in values)
        {
            var bits = BitConverter.SingleToUInt32Bits(v);
            if ((bits & 0x7F800000) != 0x7F800000)
                bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000;
            v = BitConverter.UInt32BitsToSingle(bits);
        }
    }

    /// <summary>Attention for the query rows <c>[firstToken, firstToken + tokenCount)</c> and heads <c>[firstHead, firstHead + headCount)</c>.</summary>
    public static void Attention(ReadOnlySpan<float> queries, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output,
        in AttentionShape shape, int firstHead, int headCount, Span<float> scores)
    {
        var qWidth = shape.QueryWidth;
        var kvWidth = shape.KvWidth;
        var d = shape.HeadDim;
        var group = shape.Heads / shape.KvHeads;
        Span<float> qh = stackalloc float[d];
        for (var t = 0; t < shape.Tokens; t++)
        {
            var visible = shape.StartPosition + t + 1;
            var s = scores[..visible];
            for (var h = firstHead; h < firstHead + headCount; h++)
            {
                // As llama.cpp: the query meets the f16 key cache as f16, probabilities meet values as f16.
                queries.Slice(t * qWidth + h * d, d).CopyTo(qh);
                RoundToHalf(qh);
                ReadOnlySpan<float> q = qh;
                var kvOffset = h / group * d;
                for (var j = 0; j < visible; j++)
                    s[j] = TensorPrimitives.Dot(q, keys.Slice(j * kvWidth + kvOffset, d)) * shape.Scale;
                TensorPrimitives.SoftMax(s, s);
                RoundToHalf(s);
                var o = output.Slice(t * qWidth + h * d, d);
                o.Clear();
                for (var j = 0; j < visible; j++)
                    TensorPrimitives.MultiplyAdd(values.Slice(j * kvWidth + kvOffset, d), s[j], o, o);
            }
        }
    }
}
