namespace Tessera.Training;

/// <summary>
/// AdamW (Loshchilov and Hutter, decoupled weight decay), in PyTorch's <c>torch.optim.AdamW</c> form: at step t,
/// p ← p · (1 − lr·λ); m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²; p ← p − lr · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε).
/// Holds the moment buffers of one flat parameter vector.
/// </summary>
public sealed class AdamW
{
    private readonly float[] _m;
    private readonly float[] _v;

    /// <summary>Creates the optimizer for <paramref name="size"/> parameters, with PyTorch's defaults otherwise.</summary>
    public AdamW(int size, float learningRate = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f, float epsilon = 1e-8f, float weightDecay = 0.01f)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        _m = new float[size];
        _v = new float[size];
        LearningRate = learningRate;
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        WeightDecay = weightDecay;
    }

    /// <summary>The learning rate; a schedule may change it between steps.</summary>
    public float LearningRate { get; set; }

    /// <summary>The first moment's decay.</summary>
    public float Beta1 { get; }

    /// <summary>The second moment's decay.</summary>
    public float Beta2 { get; }

    /// <summary>Added to the denominator.</summary>
    public float Epsilon { get; }

    /// <summary>The decoupled weight decay λ.</summary>
    public float WeightDecay { get; }

    /// <summary>The number of steps taken.</summary>
    public int Steps { get; private set; }

    /// <summary>The first moment buffer (for checkpoints).</summary>
    public Span<float> FirstMoment => _m;

    /// <summary>The second moment buffer (for checkpoints).</summary>
    public Span<float> SecondMoment => _v;

    /// <summary>Updates <paramref name="parameters"/> in place from <paramref name="gradients"/>.</summary>
    /// <summary>Restores the moments and the step count saved from <see cref="FirstMoment"/>, <see cref="SecondMoment"/> and <see cref="Steps"/>.</summary>
    public void Restore(ReadOnlySpan<float> firstMoment, ReadOnlySpan<float> secondMoment, int steps)
    {
        if (firstMoment.Length != _m.Length || secondMoment.Length != _v.Length || steps < 0)
            throw new ArgumentException("The saved state does not fit this optimizer.");
        firstMoment.CopyTo(_m);
        secondMoment.CopyTo(_v);
        Steps = steps;
    }

    public void Step(Span<float> parameters, ReadOnlySpan<float> gradients)
    {
        if (parameters.Length != _m.Length || gradients.Length != _m.Length)
            throw new ArgumentException($"AdamW was created for {_m.Length} parameters.");
        Steps++;
        var correction1 = 1.0 - Math.Pow(Beta1, Steps);
        var correction2 = 1.0 - Math.Pow(Beta2, Steps);
        var decay = 1f - LearningRate * WeightDecay;
        var stepSize = (float)(LearningRate / correction1);
        var rootCorrection2 = (float)Math.Sqrt(correction2);
        for (var i = 0; i < parameters.Length; i++)
        {
            var g = gradients[i];
            _m[i] = Beta1 * _m[i] + (1f - Beta1) * g;
            _v[i] = Beta2 * _v[i] + (1f - Beta2) * g * g;
            parameters[i] = parameters[i] * decay - stepSize * _m[i] / (MathF.Sqrt(_v[i]) / rootCorrection2 + Epsilon);
        }
    }
}

/// <summary>
/// DiLoCo's outer optimizer (Douillard et al., 2023): SGD with Nesterov momentum applied to the pseudo-gradient
/// Δ = global − Σ wₖ·workerₖ (the weighted mean of the workers' parameters after their inner steps). The update is
/// PyTorch's <c>torch.optim.SGD(nesterov=True, dampening=0)</c>: b ← μb + Δ (b = Δ on the first step, the same thing
/// from a zero buffer); g ← Δ + μb; global ← global − lr·g. The paper used lr = 0.7 and μ = 0.9.
/// </summary>
public sealed class NesterovOuterOptimizer
{
    private readonly float[] _momentum;
    private readonly float[] _delta;

    /// <summary>Creates the optimizer for <paramref name="size"/> parameters.</summary>
    public NesterovOuterOptimizer(int size, float learningRate = 0.7f, float momentum = 0.9f)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        _momentum = new float[size];
        _delta = new float[size];
        LearningRate = learningRate;
        Momentum = momentum;
    }

    /// <summary>The outer learning rate.</summary>
    public float LearningRate { get; set; }

    /// <summary>The momentum μ.</summary>
    public float Momentum { get; }

    /// <summary>The momentum buffer (for checkpoints).</summary>
    public Span<float> MomentumBuffer => _momentum;

    /// <summary>
    /// One outer step: the pseudo-gradient from the workers' parameters averaged with <paramref name="weights"/> (for
    /// example the tokens each processed; normalized here), then the Nesterov update of <paramref name="global"/>.
    /// </summary>
    public void Step(Span<float> global, IReadOnlyList<float[]> workers, ReadOnlySpan<float> weights)
    {
        if (workers.Count == 0 || workers.Count != weights.Length)
            throw new ArgumentException("One weight per worker, and at least one worker.", nameof(weights));
        var total = 0.0;
        foreach (var w in weights)
        {
            if (!(w >= 0f)) throw new ArgumentOutOfRangeException(nameof(weights), "Weights must be non-negative.");
            total += w;
        }
        if (total <= 0) throw new ArgumentOutOfRangeException(nameof(weights), "The weights sum to zero.");

        _delta.AsSpan().Clear();
        for (var k = 0; k < workers.Count; k++)
        {
            if (workers[k].Length != global.Length) throw new ArgumentException($"Worker {k} has the wrong number of parameters.", nameof(workers));
            var share = (float)(weights[k] / total);
            for (var i = 0; i < global.Length; i++) _delta[i] += share * workers[k][i];
        }
        for (var i = 0; i < global.Length; i++) _delta[i] = global[i] - _delta[i];
        StepWithPseudoGradient(global, _delta);
    }

    /// <summary>
    /// The Nesterov update of <paramref name="global"/> with an already averaged pseudo-gradient (global − the workers'
    /// weighted mean), as the coordinator computes it from the changes workers send.
    /// </summary>
    public void StepWithPseudoGradient(Span<float> global, ReadOnlySpan<float> pseudoGradient)
    {
        if (pseudoGradient.Length != global.Length || global.Length != _momentum.Length)
            throw new ArgumentException("The pseudo-gradient, the parameters and the optimizer must have the same size.", nameof(pseudoGradient));
        for (var i = 0; i < global.Length; i++)
        {
            var d = pseudoGradient[i];
            _momentum[i] = Momentum * _momentum[i] + d;
            global[i] -= LearningRate * (d + Momentum * _momentum[i]);
        }
    }
}
