namespace Tessera.Training.Tests;

/// <summary>
/// One f64 scalar of a computation graph with reverse-mode differentiation (micrograd's design): each value keeps its
/// inputs and the local derivative of itself w.r.t. each, and <see cref="Backward"/> applies the chain rule over the
/// graph in reverse topological order. Nothing here knows the model; it only knows the derivatives of +, ×, exp, log
/// and powers.
/// </summary>
internal sealed class Value
{
    private readonly Value[] _inputs;
    private readonly double[] _local;

    public Value(double data) : this(data, [], []) { }

    private Value(double data, Value[] inputs, double[] local)
    {
        Data = data;
        _inputs = inputs;
        _local = local;
    }

    public double Data { get; }

    /// <summary>d(the value <see cref="Backward"/> started from) / d(this), after it ran.</summary>
    public double Grad { get; private set; }

    public static Value operator +(Value a, Value b) => new(a.Data + b.Data, [a, b], [1, 1]);

    public static Value operator +(Value a, double b) => new(a.Data + b, [a], [1]);

    public static Value operator -(Value a, Value b) => new(a.Data - b.Data, [a, b], [1, -1]);

    public static Value operator *(Value a, Value b) => new(a.Data * b.Data, [a, b], [b.Data, a.Data]);

    public static Value operator *(Value a, double b) => new(a.Data * b, [a], [b]);

    public Value Exp()
    {
        var e = Math.Exp(Data);
        return new Value(e, [this], [e]);
    }

    public Value Log() => new(Math.Log(Data), [this], [1 / Data]);

    public Value Pow(double exponent) => new(Math.Pow(Data, exponent), [this], [exponent * Math.Pow(Data, exponent - 1)]);

    /// <summary>Σ terms as one node (a chain of + would make the graph as deep as the sum is long).</summary>
    public static Value Sum(IReadOnlyList<Value> terms)
    {
        var total = 0.0;
        foreach (var t in terms) total += t.Data;
        var ones = new double[terms.Count];
        Array.Fill(ones, 1.0);
        return new Value(total, terms.ToArray(), ones);
    }

    /// <summary>Σ a[i] · b[i] as one node.</summary>
    public static Value Dot(IReadOnlyList<Value> a, IReadOnlyList<Value> b)
    {
        var inputs = new Value[2 * a.Count];
        var local = new double[2 * a.Count];
        var total = 0.0;
        for (var i = 0; i < a.Count; i++)
        {
            total += a[i].Data * b[i].Data;
            (inputs[2 * i], local[2 * i]) = (a[i], b[i].Data);
            (inputs[2 * i + 1], local[2 * i + 1]) = (b[i], a[i].Data);
        }
        return new Value(total, inputs, local);
    }

    /// <summary>Sets every <see cref="Grad"/> in the graph below this value to d(this)/d(it).</summary>
    public void Backward()
    {
        // Post-order without recursion (graphs here are tens of thousands of nodes deep in places): every value comes
        // after all of its inputs, so walking the list backwards visits a value only once all its users are done.
        var order = new List<Value>();
        var seen = new HashSet<Value>(ReferenceEqualityComparer.Instance) { this };
        var stack = new Stack<(Value Node, int Next)>();
        stack.Push((this, 0));
        while (stack.Count > 0)
        {
            var (node, next) = stack.Pop();
            if (next == node._inputs.Length)
            {
                order.Add(node);
                continue;
            }
            stack.Push((node, next + 1));
            var input = node._inputs[next];
            if (seen.Add(input)) stack.Push((input, 0));
        }
        foreach (var v in order) v.Grad = 0;
        Grad = 1;
        for (var i = order.Count - 1; i >= 0; i--)
        {
            var v = order[i];
            for (var j = 0; j < v._inputs.Length; j++) v._inputs[j].Grad += v._local[j] * v.Grad;
        }
    }
}

/// <summary>
/// The Llama loss written again, scalar by scalar in f64 on <see cref="Value"/>s, straight from the model's definition
/// (docs/training.md) and without any of the training layers: embedding; per block x += Wo·attention(rope(Wq·n),
/// rope(Wk·n), Wv·n) with n = RMSNorm(x), then x += Wdown·(silu(Wgate·n) ⊙ Wup·n); final RMSNorm, output head, mean
/// cross-entropy. Only the parameters' layout is shared with <see cref="LlamaModel"/> (<see cref="ParameterOffsets"/>),
/// so its gradient is a reference computed another way than the model's hand-derived backward passes.
/// </summary>
internal static class ScalarReference
{
    /// <summary>The loss and its gradient w.r.t. every parameter, in f64.</summary>
    public static (double Loss, double[] Gradient) LossAndGradient(LlamaConfig c, ReadOnlySpan<float> parameters, int[] tokens, int[] targets)
    {
        var p = new Value[parameters.Length];
        for (var i = 0; i < p.Length; i++) p[i] = new Value(parameters[i]);
        var loss = Loss(c, p, tokens, targets);
        loss.Backward();
        return (loss.Data, p.Select(v => v.Grad).ToArray());
    }

    /// <summary>The loss alone, in f64 (for finite differences of the reference itself).</summary>
    public static double LossOnly(LlamaConfig c, double[] parameters, int[] tokens, int[] targets) =>
        Loss(c, parameters.Select(v => new Value(v)).ToArray(), tokens, targets).Data;

    private static Value Loss(LlamaConfig c, Value[] p, int[] tokens, int[] targets)
    {
        var o = new ParameterOffsets(c);
        int T = tokens.Length, D = c.Dim, hd = c.HeadDim;
        Value[] Slice(int offset, int length) => p.AsSpan(offset, length).ToArray();

        var x = tokens.Select(token => Slice(o.TokenEmbedding + token * D, D)).ToArray();
        foreach (var b in o.Blocks)
        {
            var n = x.Select(row => RmsNorm(row, Slice(b.AttentionNorm, D), c.NormEpsilon)).ToArray();
            var q = new Value[T][];
            var k = new Value[T][];
            var v = new Value[T][];
            for (var t = 0; t < T; t++)
            {
                q[t] = Rotate(MatVec(p, b.Wq, c.Heads * hd, n[t]), t, hd, c.RopeBase);
                k[t] = Rotate(MatVec(p, b.Wk, c.KvHeads * hd, n[t]), t, hd, c.RopeBase);
                v[t] = MatVec(p, b.Wv, c.KvHeads * hd, n[t]);
            }
            for (var t = 0; t < T; t++)
                x[t] = Add(x[t], MatVec(p, b.Wo, D, Attend(q, k, v, t, c)));
            for (var t = 0; t < T; t++)
            {
                var m = RmsNorm(x[t], Slice(b.FeedForwardNorm, D), c.NormEpsilon);
                var gate = MatVec(p, b.WGate, c.HiddenDim, m);
                var up = MatVec(p, b.WUp, c.HiddenDim, m);
                // silu(g) = g · σ(g) = g / (1 + e^−g)
                var hidden = gate.Select((g, i) => g * ((g * -1.0).Exp() + 1.0).Pow(-1) * up[i]).ToArray();
                x[t] = Add(x[t], MatVec(p, b.WDown, D, hidden));
            }
        }

        var losses = new Value[T];
        for (var t = 0; t < T; t++)
        {
            var logits = MatVec(p, o.Output, c.Vocab, RmsNorm(x[t], Slice(o.FinalNorm, D), c.NormEpsilon));
            // −log softmax(z)[y] = log Σ exp(z − max) + max − z[y]; the max is a constant (softmax does not depend on it).
            var max = logits.Max(z => z.Data);
            var logSum = Value.Sum(logits.Select(z => (z + -max).Exp()).ToArray()).Log() + max;
            losses[t] = logSum - logits[targets[t]];
        }
        return Value.Sum(losses) * (1.0 / T);
    }

    /// <summary>W·x for W [rows, x.Length] at <paramref name="offset"/>.</summary>
    private static Value[] MatVec(Value[] p, int offset, int rows, Value[] x)
    {
        var y = new Value[rows];
        for (var r = 0; r < rows; r++) y[r] = Value.Dot(new ArraySegment<Value>(p, offset + r * x.Length, x.Length), x);
        return y;
    }

    private static Value[] Add(Value[] a, Value[] b) => a.Select((v, i) => v + b[i]).ToArray();

    /// <summary>x · w / √(mean(x²) + ε).</summary>
    private static Value[] RmsNorm(Value[] x, Value[] w, float epsilon)
    {
        var inverseRms = (Value.Dot(x, x) * (1.0 / x.Length) + epsilon).Pow(-0.5);
        return x.Select((v, i) => v * inverseRms * w[i]).ToArray();
    }

    /// <summary>llama.cpp's NORM RoPE: in every head, the pair (x[2i], x[2i+1]) turned by pos · base^(−2i/headDim).</summary>
    private static Value[] Rotate(Value[] x, int position, int headDim, float ropeBase)
    {
        var y = new Value[x.Length];
        for (var at = 0; at < x.Length; at += 2)
        {
            var i = at % headDim / 2;
            var angle = position * Math.Pow(ropeBase, -2.0 * i / headDim);
            double cos = Math.Cos(angle), sin = Math.Sin(angle);
            y[at] = x[at] * cos - x[at + 1] * sin;
            y[at + 1] = x[at] * sin + x[at + 1] * cos;
        }
        return y;
    }

    /// <summary>Position <paramref name="t"/>'s heads side by side: query head h attends with kv head h / (heads / kvHeads)
    /// over positions 0..t, softmax(q·k / √headDim) weighting v.</summary>
    private static Value[] Attend(Value[][] q, Value[][] k, Value[][] v, int t, LlamaConfig c)
    {
        var hd = c.HeadDim;
        var output = new Value[c.Heads * hd];
        for (var h = 0; h < c.Heads; h++)
        {
            var kvAt = h / (c.Heads / c.KvHeads) * hd;
            var query = q[t].AsSpan(h * hd, hd).ToArray();
            var scores = new Value[t + 1];
            for (var s = 0; s <= t; s++) scores[s] = Value.Dot(query, k[s].AsSpan(kvAt, hd).ToArray()) * (1.0 / Math.Sqrt(hd));
            var max = scores.Max(z => z.Data);
            var exps = scores.Select(z => (z + -max).Exp()).ToArray();
            var inverseSum = Value.Sum(exps).Pow(-1);
            for (var d = 0; d < hd; d++)
                output[h * hd + d] = Value.Sum(Enumerable.Range(0, t + 1).Select(s => exps[s] * inverseSum * v[s][kvAt + d]).ToArray());
        }
        return output;
    }
}
