using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace Tessera.Training;

// Conventions shared by every layer below, in the style of llm.c:
// - tensors are row-major Span<float>; a "row" is one position of the token sequence;
// - Forward writes its outputs (overwriting them);
// - Backward ADDS into the gradient buffers (dx, dw, ...), so a tensor used twice (a residual) sums its gradients,
//   and the caller zeroes the buffers once per step;
// - the loops a training step runs are compiled fully optimized at once (AggressiveOptimization): a step calls each a
//   few times, so tiered compilation would leave them unoptimized for the first steps of a run.

/// <summary>A linear layer without bias: y = x Wᵀ, with x [rows, in] and W [out, in] (the GGUF/PyTorch layout).
/// The products are <see cref="MatMul"/>'s register-blocked FMA kernels; the overloads with <c>threads</c> split them
/// into tasks that do not depend on the thread count, so the results do not either.</summary>
public static class Linear
{
    /// <summary>y[r, o] = Σᵢ x[r, i] · w[o, i].</summary>
    public static void Forward(Span<float> y, ReadOnlySpan<float> x, ReadOnlySpan<float> w, int rows, int inDim, int outDim) =>
        Forward(y, x, w, rows, inDim, outDim, threads: 1);

    /// <summary>dx[r, i] += Σₒ dy[r, o] · w[o, i]; dw[o, i] += Σᵣ dy[r, o] · x[r, i].</summary>
    public static void Backward(
        Span<float> dx, Span<float> dw, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> w,
        int rows, int inDim, int outDim) =>
        Backward(dx, dw, dy, x, w, rows, inDim, outDim, threads: 1);

    internal static unsafe void Forward(
        Span<float> y, ReadOnlySpan<float> x, ReadOnlySpan<float> w, int rows, int inDim, int outDim, int threads)
    {
        Check(y, rows * outDim, x, rows * inDim, w, outDim * inDim);
        fixed (float* py = y, px = x, pw = w) MatMul.ABt(py, px, pw, rows, inDim, outDim, threads);
    }

    internal static unsafe void Backward(
        Span<float> dx, Span<float> dw, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> w,
        int rows, int inDim, int outDim, int threads)
    {
        Check(dy, rows * outDim, x, rows * inDim, w, outDim * inDim);
        Check(dx, rows * inDim, dw, outDim * inDim, dy, rows * outDim);
        fixed (float* pdx = dx, pdw = dw, pdy = dy, px = x, pw = w)
        {
            MatMul.AB(pdx, pdy, pw, rows, outDim, inDim, threads);
            MatMul.AtB(pdw, pdy, px, rows, outDim, inDim, threads);
        }
    }

    private static void Check(ReadOnlySpan<float> a, int aLength, ReadOnlySpan<float> b, int bLength, ReadOnlySpan<float> c, int cLength)
    {
        if (a.Length < aLength || b.Length < bLength || c.Length < cLength)
            throw new ArgumentException("A buffer is shorter than the shapes say.");
    }
}

/// <summary>RMSNorm with a weight: y = x · rstd · w, rstd = 1 / √(mean(x²) + ε), per row of <c>dim</c> values.</summary>
public static class RmsNorm
{
    /// <summary>Normalizes each row; saves each row's rstd (length <paramref name="rows"/>) for the backward pass.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Forward(
        Span<float> y, Span<float> rstd, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, int rows, int dim, float epsilon)
    {
        for (var r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * dim, dim);
            var s = 1f / MathF.Sqrt(TensorPrimitives.Dot(xr, xr) / dim + epsilon);
            rstd[r] = s;
            var yr = y.Slice(r * dim, dim);
            TensorPrimitives.Multiply(xr, s, yr);
            TensorPrimitives.Multiply(yr, weight, yr);
        }
    }

    /// <summary>
    /// With g = dy · w: dx = rstd · g − x · rstd³ · (Σ g·x) / dim; dw += Σᵣ dy · x · rstd.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Backward(
        Span<float> dx, Span<float> dWeight, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> weight,
        ReadOnlySpan<float> rstd, int rows, int dim)
    {
        for (var r = 0; r < rows; r++)
        {
            var s = rstd[r];
            var dot = 0f; // Σ dy·w·x
            for (var i = 0; i < dim; i++)
            {
                var xi = x[r * dim + i];
                var dyi = dy[r * dim + i];
                dot += dyi * weight[i] * xi;
                dWeight[i] += dyi * xi * s;
            }
            var c = s * s * s * dot / dim;
            for (var i = 0; i < dim; i++)
                dx[r * dim + i] += s * dy[r * dim + i] * weight[i] - c * x[r * dim + i];
        }
    }
}

/// <summary>The SwiGLU gate: out = silu(gate) · up, silu(g) = g · σ(g), elementwise.</summary>
public static class SwiGlu
{
    private const int Chunk = 4096;

    /// <summary>out[i] = silu(gate[i]) · up[i].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Forward(Span<float> output, ReadOnlySpan<float> gate, ReadOnlySpan<float> up)
    {
        if (gate.Length < output.Length || up.Length < output.Length) throw new ArgumentException("gate and up are shorter than the output.");
        for (var i = 0; i < output.Length; i++)
        {
            var g = gate[i];
            output[i] = g / (1f + MathF.Exp(-g)) * up[i];
        }
    }

    /// <summary>dgate += dy · up · σ(g)(1 + g(1 − σ(g))); dup += dy · silu(g).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Backward(
        Span<float> dGate, Span<float> dUp, ReadOnlySpan<float> dy, ReadOnlySpan<float> gate, ReadOnlySpan<float> up)
    {
        if (gate.Length < dy.Length || up.Length < dy.Length || dGate.Length < dy.Length || dUp.Length < dy.Length)
            throw new ArgumentException("A buffer is shorter than dy.");
        for (var i = 0; i < dy.Length; i++)
        {
            var g = gate[i];
            var sig = 1f / (1f + MathF.Exp(-g));
            dGate[i] += dy[i] * up[i] * sig * (1f + g * (1f - sig));
            dUp[i] += dy[i] * g * sig;
        }
    }

    /// <summary><see cref="Forward"/> on the first <paramref name="length"/> values, in chunks over threads.</summary>
    internal static unsafe void Forward(float[] output, float[] gate, float[] up, int length, int threads)
    {
        fixed (float* o = output, g = gate, u = up)
            Parallelism.For(threads, (length + Chunk - 1) / Chunk, new Job { Output = o, Gate = g, Up = u, Length = length });
    }

    /// <summary><see cref="Backward"/> on the first <paramref name="length"/> values, in chunks over threads.</summary>
    internal static unsafe void Backward(float[] dGate, float[] dUp, float[] dy, float[] gate, float[] up, int length, int threads)
    {
        fixed (float* dg = dGate, du = dUp, d = dy, g = gate, u = up)
            Parallelism.For(threads, (length + Chunk - 1) / Chunk,
                new Job { DGate = dg, DUp = du, Dy = d, Gate = g, Up = u, Length = length, IsBackward = true });
    }

    private unsafe struct Job : IParallelJob
    {
        public float* Output, DGate, DUp, Dy, Gate, Up;
        public int Length;
        public bool IsBackward;

        public readonly void Run(int task)
        {
            var start = task * Chunk;
            var n = Math.Min(Chunk, Length - start);
            if (IsBackward)
                SwiGlu.Backward(new Span<float>(DGate + start, n), new Span<float>(DUp + start, n), new ReadOnlySpan<float>(Dy + start, n),
                    new ReadOnlySpan<float>(Gate + start, n), new ReadOnlySpan<float>(Up + start, n));
            else
                Forward(new Span<float>(Output + start, n), new ReadOnlySpan<float>(Gate + start, n), new ReadOnlySpan<float>(Up + start, n));
        }
    }
}

/// <summary>
/// Rotary position embedding in llama.cpp's NORM convention (LLAMA_ROPE_TYPE_NORM, the one Llama GGUFs use): adjacent
/// pairs (x[2i], x[2i+1]) of each head are rotated by the angle pos · base^(−2i / headDim). Works in place on
/// [rows, heads, headDim], row r being position <c>startPosition + r</c>.
/// </summary>
public static class Rope
{
    /// <summary>Rotates each pair: (x₀, x₁) → (x₀ cos − x₁ sin, x₀ sin + x₁ cos).</summary>
    public static void Forward(Span<float> x, int rows, int heads, int headDim, float thetaBase, int startPosition = 0) =>
        Rotate(x, rows, heads, headDim, thetaBase, startPosition, sign: 1f);

    /// <summary>
    /// Replaces the gradient w.r.t. the rotated values by the gradient w.r.t. the inputs, in place: a rotation's
    /// Jacobian is orthogonal, so this is the rotation by the opposite angle.
    /// </summary>
    public static void Backward(Span<float> dx, int rows, int heads, int headDim, float thetaBase, int startPosition = 0) =>
        Rotate(dx, rows, heads, headDim, thetaBase, startPosition, sign: -1f);

    private static void Rotate(Span<float> x, int rows, int heads, int headDim, float thetaBase, int startPosition, float sign)
    {
        if (headDim % 2 != 0) throw new ArgumentException("RoPE needs an even head dimension.", nameof(headDim));
        var (cos, sin) = Table(startPosition + rows, headDim, thetaBase);
        Rotate(x, rows, heads, headDim, cos, sin, startPosition, sign);
    }

    /// <summary>cos and sin of pos · base^(−2i / headDim) for positions 0..positions−1, [positions, headDim / 2].</summary>
    internal static (float[] Cos, float[] Sin) Table(int positions, int headDim, float thetaBase)
    {
        var half = headDim / 2;
        var cos = new float[positions * half];
        var sin = new float[positions * half];
        for (var pos = 0; pos < positions; pos++)
            for (var i = 0; i < half; i++)
            {
                var angle = pos * Math.Pow(thetaBase, -2.0 * i / headDim);
                cos[pos * half + i] = (float)Math.Cos(angle);
                sin[pos * half + i] = (float)Math.Sin(angle);
            }
        return (cos, sin);
    }

    /// <summary>Rotates rows at positions startPosition.. by a <see cref="Table"/>; sign −1 rotates back.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Rotate(
        Span<float> x, int rows, int heads, int headDim, ReadOnlySpan<float> cosTable, ReadOnlySpan<float> sinTable, int startPosition, float sign)
    {
        var half = headDim / 2;
        for (var r = 0; r < rows; r++)
        {
            var at0 = (startPosition + r) * half;
            for (var i = 0; i < half; i++)
            {
                var cos = cosTable[at0 + i];
                var sin = sign * sinTable[at0 + i];
                for (var h = 0; h < heads; h++)
                {
                    var at = (r * heads + h) * headDim + 2 * i;
                    var x0 = x[at];
                    var x1 = x[at + 1];
                    x[at] = x0 * cos - x1 * sin;
                    x[at + 1] = x0 * sin + x1 * cos;
                }
            }
        }
    }
}

/// <summary>
/// Causal multi-head scaled dot-product attention with grouped-query heads: q is [T, heads, headDim], k and v are
/// [T, kvHeads, headDim] (heads a multiple of kvHeads; query head h reads kv head h / (heads / kvHeads)), the output is
/// [T, heads, headDim]. Position t attends to positions 0..t.
/// </summary>
public static class Attention
{
    /// <summary>Computes the output and saves the softmax probabilities <paramref name="probs"/> [heads, T, T].</summary>
    public static void Forward(
        Span<float> output, Span<float> probs, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        int tokens, int heads, int kvHeads, int headDim)
    {
        for (var kvh = 0; kvh < kvHeads; kvh++) ForwardGroup(output, probs, q, k, v, tokens, heads, kvHeads, headDim, kvh);
    }

    /// <summary><see cref="Forward"/> for the query heads that read kv head <paramref name="kvh"/> (it writes only
    /// theirs, so groups can run on different threads).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void ForwardGroup(
        Span<float> output, Span<float> probs, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        int tokens, int heads, int kvHeads, int headDim, int kvh)
    {
        var group = heads / kvHeads;
        var scale = 1f / MathF.Sqrt(headDim);
        for (var h = kvh * group; h < (kvh + 1) * group; h++)
        {
            probs.Slice(h * tokens * tokens, tokens * tokens).Clear();
            for (var t = 0; t < tokens; t++)
            {
                var qt = q.Slice((t * heads + h) * headDim, headDim);
                var p = probs.Slice((h * tokens + t) * tokens, t + 1);
                for (var s = 0; s <= t; s++)
                    p[s] = scale * TensorPrimitives.Dot(qt, k.Slice((s * kvHeads + kvh) * headDim, headDim));
                TensorPrimitives.SoftMax(p, p);
                var ot = output.Slice((t * heads + h) * headDim, headDim);
                ot.Clear();
                for (var s = 0; s <= t; s++)
                    TensorPrimitives.MultiplyAdd(v.Slice((s * kvHeads + kvh) * headDim, headDim), p[s], ot, ot);
            }
        }
    }

    /// <summary>
    /// dv[s] += p[t,s] · dout[t]; dp[s] = dout[t] · v[s]; dscore = p · (dp − Σ p·dp);
    /// dq[t] += scale · Σₛ dscore[s] · k[s]; dk[s] += scale · dscore[s] · q[t].
    /// </summary>
    public static void Backward(
        Span<float> dq, Span<float> dk, Span<float> dv, ReadOnlySpan<float> dOutput, ReadOnlySpan<float> probs,
        ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int tokens, int heads, int kvHeads, int headDim)
    {
        for (var kvh = 0; kvh < kvHeads; kvh++) BackwardGroup(dq, dk, dv, dOutput, probs, q, k, v, tokens, heads, kvHeads, headDim, kvh);
    }

    /// <summary><see cref="Backward"/> for the query heads that read kv head <paramref name="kvh"/>: it adds only into
    /// their dq and that kv head's dk and dv, so groups can run on different threads.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void BackwardGroup(
        Span<float> dq, Span<float> dk, Span<float> dv, ReadOnlySpan<float> dOutput, ReadOnlySpan<float> probs,
        ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int tokens, int heads, int kvHeads, int headDim, int kvh)
    {
        var group = heads / kvHeads;
        var scale = 1f / MathF.Sqrt(headDim);
        Span<float> dp = tokens <= 1024 ? stackalloc float[tokens] : new float[tokens];
        for (var h = kvh * group; h < (kvh + 1) * group; h++)
        {
            for (var t = 0; t < tokens; t++)
            {
                var p = probs.Slice((h * tokens + t) * tokens, t + 1);
                var dot = dOutput.Slice((t * heads + h) * headDim, headDim);
                var qt = q.Slice((t * heads + h) * headDim, headDim);
                var dqt = dq.Slice((t * heads + h) * headDim, headDim);
                var sum = 0f;
                for (var s = 0; s <= t; s++)
                {
                    var kv = (s * kvHeads + kvh) * headDim;
                    var dvs = dv.Slice(kv, headDim);
                    TensorPrimitives.MultiplyAdd(dot, p[s], dvs, dvs);
                    dp[s] = TensorPrimitives.Dot(dot, v.Slice(kv, headDim));
                    sum += p[s] * dp[s];
                }
                for (var s = 0; s <= t; s++)
                {
                    var ds = p[s] * (dp[s] - sum) * scale;
                    var kv = (s * kvHeads + kvh) * headDim;
                    TensorPrimitives.MultiplyAdd(k.Slice(kv, headDim), ds, dqt, dqt);
                    var dks = dk.Slice(kv, headDim);
                    TensorPrimitives.MultiplyAdd(qt, ds, dks, dks);
                }
            }
        }
    }
}

/// <summary>Token embedding lookup: out[t] = table[token[t]], with the table [vocab, dim].</summary>
public static class Embedding
{
    /// <summary>Copies each token's row of the table.</summary>
    public static void Forward(Span<float> output, ReadOnlySpan<int> tokens, ReadOnlySpan<float> table, int dim)
    {
        for (var t = 0; t < tokens.Length; t++)
            table.Slice(tokens[t] * dim, dim).CopyTo(output.Slice(t * dim, dim));
    }

    /// <summary>dtable[token[t]] += dout[t].</summary>
    public static void Backward(Span<float> dTable, ReadOnlySpan<float> dOutput, ReadOnlySpan<int> tokens, int dim)
    {
        for (var t = 0; t < tokens.Length; t++)
        {
            var row = dTable.Slice(tokens[t] * dim, dim);
            TensorPrimitives.Add(row, dOutput.Slice(t * dim, dim), row);
        }
    }
}

/// <summary>Cross-entropy of the softmax of logits [T, vocab] against target tokens, the mean over the T positions.</summary>
public static class CrossEntropy
{
    /// <summary>Writes the softmax <paramref name="probs"/> [T, vocab] and returns mean −log p[target].</summary>
    public static float Forward(Span<float> probs, ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, int vocab)
    {
        var loss = 0.0;
        for (var t = 0; t < targets.Length; t++)
        {
            var p = probs.Slice(t * vocab, vocab);
            TensorPrimitives.SoftMax(logits.Slice(t * vocab, vocab), p);
            loss -= Math.Log(p[targets[t]]);
        }
        return (float)(loss / targets.Length);
    }

    /// <summary>dlogits[t] += (p[t] − onehot(target[t])) / T · dLoss.</summary>
    public static void Backward(Span<float> dLogits, ReadOnlySpan<float> probs, ReadOnlySpan<int> targets, int vocab, float dLoss = 1f)
    {
        var scale = dLoss / targets.Length;
        for (var t = 0; t < targets.Length; t++)
        {
            var row = dLogits.Slice(t * vocab, vocab);
            TensorPrimitives.MultiplyAdd(probs.Slice(t * vocab, vocab), scale, row, row);
            row[targets[t]] -= scale;
        }
    }
}
