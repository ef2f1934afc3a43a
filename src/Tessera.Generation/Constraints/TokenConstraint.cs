namespace Tessera.Generation.Constraints;

/// <summary>
/// One session's place in a grammar, kept where tokens are sampled. It follows the session's history (the tokens after
/// the prompt), so a session resumed elsewhere after a failure, whose generated tokens arrive as history, lands in the
/// same state; then it says whether a token may come next and masks the logits of those that may not.
/// </summary>
public sealed class TokenConstraint
{
    private readonly GrammarAutomaton _automaton;
    private readonly int _promptLength;
    private int _consumed;

    /// <param name="automaton">The grammar, compiled for the model's vocabulary.</param>
    /// <param name="promptLength">How many of the history's tokens are the prompt (not constrained).</param>
    public TokenConstraint(GrammarAutomaton automaton, int promptLength)
    {
        ArgumentNullException.ThrowIfNull(automaton);
        ArgumentOutOfRangeException.ThrowIfNegative(promptLength);
        _automaton = automaton;
        _promptLength = promptLength;
        State = automaton.Start;
    }

    public GrammarState State { get; private set; }

    /// <summary>An end-of-generation token has been accepted: only another may follow.</summary>
    public bool Ended { get; private set; }

    /// <summary>Advances over the tokens of <paramref name="history"/> after the prompt that this constraint has not seen.</summary>
    /// <exception cref="InvalidOperationException">A token of the history breaks the grammar.</exception>
    public void CatchUp(ReadOnlySpan<int> history)
    {
        for (var i = _promptLength + _consumed; i < history.Length; i++)
            Accept(history[i]);
    }

    /// <summary>Whether <paramref name="id"/> may come next.</summary>
    public bool Allows(int id) => Ended ? _automaton.Vocabulary.IsEndOfGeneration(id) : _automaton.Allows(State, id);

    /// <summary>
    /// Sets the logit of every token that may not come next to negative infinity (ids past the vocabulary included).
    /// </summary>
    /// <exception cref="InvalidOperationException">No token of the vocabulary can continue the output.</exception>
    public void Mask(Span<float> logits)
    {
        var mask = Ended ? _automaton.Vocabulary.EndMask : _automaton.Mask(State);
        var any = false;
        var count = Math.Min(logits.Length, _automaton.Vocabulary.Count);
        for (var w = 0; w * 64 < count; w++)
        {
            var bits = mask[w];
            any |= bits != 0;
            var end = Math.Min(count, (w + 1) * 64);
            if (bits == ulong.MaxValue)
                continue;
            if (bits == 0)
            {
                logits[(w * 64)..end].Fill(float.NegativeInfinity);
                continue;
            }
            for (var id = w * 64; id < end; id++)
            {
                if ((bits & (1UL << (id & 63))) == 0)
                    logits[id] = float.NegativeInfinity;
            }
        }
        logits[count..].Fill(float.NegativeInfinity);
        if (!any)
            throw new InvalidOperationException("no token of the model's vocabulary can continue the output the grammar requires (the vocabulary lacks the bytes it needs).");
    }

    /// <summary>Moves past <paramref name="id"/>.</summary>
    /// <exception cref="InvalidOperationException">The grammar does not allow <paramref name="id"/> here.</exception>
    public void Accept(int id)
    {
        _consumed++;
        if (_automaton.Vocabulary.IsEndOfGeneration(id))
        {
            if (!Ended && !State.CanEnd)
                throw new InvalidOperationException($"token {id} ends the generation where the grammar requires more output.");
            Ended = true;
            return;
        }
        if (Ended)
            throw new InvalidOperationException($"token {id} follows the end of a constrained output.");
        var bytes = (uint)id < (uint)_automaton.Vocabulary.Count ? _automaton.Vocabulary.BytesOf(id) : default;
        var next = bytes.IsEmpty ? GrammarState.Dead : _automaton.Walk(State, bytes);
        if (next.IsDead)
            throw new InvalidOperationException($"token {id} does not continue the output as the grammar requires.");
        State = next;
    }
}
