namespace Tessera.Training;

/// <summary>
/// What a training loop needs from a model, whatever computes it (the f32 CPU model today, a GPU backend later):
/// one flat parameter vector, its gradient, and the loss of a batch of sequences with or without the gradient.
/// </summary>
public interface ITrainableModel
{
    /// <summary>The model's shape.</summary>
    LlamaConfig Config { get; }

    /// <summary>All parameters, flat (the layout of <see cref="LlamaModel.Offsets"/>); optimizers update it in place.</summary>
    float[] Parameters { get; }

    /// <summary>The gradient of the last <see cref="ForwardBackward"/>, laid out as <see cref="Parameters"/>.</summary>
    float[] Gradients { get; }

    /// <summary>
    /// The mean cross-entropy over every position of <paramref name="sequences"/> sequences of equal length laid end to
    /// end in <paramref name="tokens"/> (each predicting <paramref name="targets"/> at the same index, attention never
    /// crossing from one sequence to another); overwrites <see cref="Gradients"/> with that mean loss's gradient.
    /// </summary>
    float ForwardBackward(ReadOnlySpan<int> tokens, ReadOnlySpan<int> targets, int sequences);

    /// <summary>The same mean loss as <see cref="ForwardBackward"/> without a gradient (validation).</summary>
    float Evaluate(ReadOnlySpan<int> tokens, ReadOnlySpan<int> targets, int sequences);
}
