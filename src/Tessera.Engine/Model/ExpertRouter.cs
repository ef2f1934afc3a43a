using Tessera.Engine.Backends;

namespace Tessera.Engine.Model;

/// <summary>
/// Chooses each token's experts from the router's logits, as llama.cpp does: a soft max over the experts
/// (<see cref="FloatKernels.SoftMaxRow"/>), the <c>used</c> most probable (ggml's argsort, descending), their
/// probabilities as weights, divided by their sum where the model says so (Mixtral; Qwen2-MoE uses them as they are).
/// Pure and small: it runs on the host between the router's product and the experts'.
/// </summary>
public static class ExpertRouter
{
    /// <param name="logits">tokens x experts router outputs (overwritten with the probabilities).</param>
    /// <param name="selected">tokens x used: the chosen experts of each token, most probable first.</param>
    /// <param name="weights">tokens x used: their weights.</param>
    public static void Route(Span<float> logits, int tokens, int experts, int used, bool normalize, Span<int> selected, Span<float> weights)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(logits.Length, tokens * experts);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(used, experts);
        Span<int> order = experts <= 256 ? stackalloc int[experts] : new int[experts];
        for (var t = 0; t < tokens; t++)
        {
            var probabilities = logits.Slice(t * experts, experts);
            FloatKernels.SoftMaxRow(probabilities);
            ArgsortDescending(probabilities, order);
            var chosen = selected.Slice(t * used, used);
            var w = weights.Slice(t * used, used);
            for (var s = 0; s < used; s++)
            {
                chosen[s] = order[s];
                w[s] = probabilities[order[s]];
            }
            if (normalize)
            {
                // ggml_sum_rows (a double sum, rounded to float), then ggml_div.
                double sum = 0;
                foreach (var v in w)
                    sum += v;
                var total = (float)sum;
                for (var s = 0; s < used; s++)
                    w[s] /= total;
            }
        }
    }

    /// <summary>
    /// ggml's CPU argsort (descending): indices in order, then for each position j every later k whose value is larger
    /// than position j's swaps with it. Ties keep an order that depends on this exact procedure, so it is kept.
    /// </summary>
    internal static void ArgsortDescending(ReadOnlySpan<float> values, Span<int> order)
    {
        for (var j = 0; j < values.Length; j++)
            order[j] = j;
        for (var j = 0; j < values.Length; j++)
        {
            for (var k = j + 1; k < values.Length; k++)
            {
                if (values[order[j]] < values[order[k]])
                    (order[j], order[k]) = (order[k], order[j]);
            }
        }
    }
}
