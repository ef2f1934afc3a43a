namespace Tessera.Generation.Constraints;

/// <summary>
/// Compiled grammars by their text and vocabulary, so requests that share a schema (an application sends the same one
/// every time) share one automaton and its cached masks. Keeps the most recently used few; thread-safe.
/// </summary>
public static class GrammarCache
{
    private const int Capacity = 32;
    private static readonly LinkedList<(string Text, TokenVocabulary Vocabulary, GrammarAutomaton Automaton)> Entries = new();
    private static readonly object Gate = new();

    /// <summary>The automaton of <paramref name="grammar"/> (GBNF) over <paramref name="vocabulary"/>.</summary>
    /// <exception cref="GrammarException">The grammar is not valid.</exception>
    public static GrammarAutomaton Get(string grammar, TokenVocabulary vocabulary)
    {
        ArgumentNullException.ThrowIfNull(grammar);
        ArgumentNullException.ThrowIfNull(vocabulary);
        lock (Gate)
        {
            for (var node = Entries.First; node is not null; node = node.Next)
            {
                if (ReferenceEquals(node.Value.Vocabulary, vocabulary) && string.Equals(node.Value.Text, grammar, StringComparison.Ordinal))
                {
                    Entries.Remove(node);
                    Entries.AddFirst(node);
                    return node.Value.Automaton;
                }
            }
        }
        // Compile outside the lock: a large grammar must not hold up sessions whose grammar is cached.
        var automaton = new GrammarAutomaton(Gbnf.Parse(grammar), vocabulary);
        lock (Gate)
        {
            Entries.AddFirst((grammar, vocabulary, automaton));
            while (Entries.Count > Capacity)
                Entries.RemoveLast();
        }
        return automaton;
    }

    /// <summary>A constraint for one session: the grammar over the vocabulary, after a prompt of <paramref name="promptLength"/> tokens.</summary>
    /// <exception cref="ArgumentException">The grammar is not valid (the message says why).</exception>
    public static TokenConstraint? ConstraintFor(string? grammar, TokenVocabulary? vocabulary, int promptLength)
    {
        if (string.IsNullOrEmpty(grammar))
            return null;
        if (vocabulary is null)
            throw new ArgumentException("This model cannot constrain its output: its vocabulary is not known where tokens are sampled.");
        try
        {
            return new TokenConstraint(Get(grammar, vocabulary), promptLength);
        }
        catch (GrammarException e)
        {
            throw new ArgumentException($"The grammar is not valid: {e.Message}", e);
        }
        catch (InvalidOperationException e)
        {
            throw new ArgumentException($"The grammar cannot be used: {e.Message}", e);
        }
    }
}
