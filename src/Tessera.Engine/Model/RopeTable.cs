namespace Tessera.Engine.Model;

/// <summary>
/// Precomputed rotary cos/sin per position and pair, computed the way llama.cpp does (theta multiplied by
/// base^(-2/n) step by step in float), so results match it closely.
/// </summary>
public sealed class RopeTable
{
    private readonly float[] _cos;
    private readonly float[] _sin;

    public RopeTable(int positions, int ropeDimensions, float freqBase, float freqScale, RopeKind kind, float[]? freqFactors = null)
    {
        Positions = positions;
        Pairs = ropeDimensions / 2;
        Dimensions = ropeDimensions;
        Kind = kind;
        _cos = new float[(long)positions * Pairs];
        _sin = new float[(long)positions * Pairs];
        var thetaScale = MathF.Pow(freqBase, -2.0f / ropeDimensions);
        for (var p = 0; p < positions; p++)
        {
            float theta = p;
            for (var i = 0; i < Pairs; i++)
            {
                var t = freqScale * theta;
                if (freqFactors != null)
                    t /= freqFactors[i];
                _cos[(long)p * Pairs + i] = MathF.Cos(t);
                _sin[(long)p * Pairs + i] = MathF.Sin(t);
                theta *= thetaScale;
            }
        }
    }

    public int Positions { get; }

    /// <summary>cos of every angle, positions x pairs (what a device copies instead of computing them again).</summary>
    internal ReadOnlySpan<float> CosTable => _cos;

    /// <summary>sin of every angle, positions x pairs.</summary>
    internal ReadOnlySpan<float> SinTable => _sin;

    public int Pairs { get; }

    public int Dimensions { get; }

    public RopeKind Kind { get; }

    /// <summary>
    /// Rotates <paramref name="heads"/> heads of <paramref name="headDim"/> values at <paramref name="position"/>, in place.
    /// x0 cos - x1 sin and x0 sin + x1 cos are computed as the C compilers build ggml's rope (they contract each
    /// expression's first product and the sum into one fused multiply-add): fma(x0, cos, -(x1 sin)), fma(x0, sin, x1 cos).
    /// Q and K are rounded to f16 next, so a last-bit difference here rarely shows, but where it does a deep model
    /// (Gemma 2's 26 layers) carries it to the logits.
    /// </summary>
    public void Apply(Span<float> vector, int heads, int headDim, int position)
    {
        if ((uint)position >= (uint)Positions)
            throw new ArgumentOutOfRangeException(nameof(position), $"Position {position} is beyond the rotary table ({Positions}).");
        var cos = _cos.AsSpan(position * Pairs, Pairs);
        var sin = _sin.AsSpan(position * Pairs, Pairs);
        for (var h = 0; h < heads; h++)
        {
            var head = vector.Slice(h * headDim, headDim);
            if (Kind == RopeKind.Normal)
            {
                for (var i = 0; i < Pairs; i++)
                {
                    var x0 = head[2 * i];
                    var x1 = head[2 * i + 1];
                    head[2 * i] = MathF.FusedMultiplyAdd(x0, cos[i], -(x1 * sin[i]));
                    head[2 * i + 1] = MathF.FusedMultiplyAdd(x0, sin[i], x1 * cos[i]);
                }
            }
            else
            {
                var half = Dimensions / 2;
                for (var i = 0; i < Pairs; i++)
                {
                    var x0 = head[i];
                    var x1 = head[i + half];
                    head[i] = MathF.FusedMultiplyAdd(x0, cos[i], -(x1 * sin[i]));
                    head[i + half] = MathF.FusedMultiplyAdd(x0, sin[i], x1 * cos[i]);
                }
            }
        }
    }
}
