namespace Tessera.Generation.Constraints;

/// <summary>
/// Grammars by their text, parsed and compiled for a vocabulary, so requests that share a schema (an application sends
/// the same one every time) parse it once and share one automaton and its cached masks. A request's grammar is checked
/// where it arrives and compiled where it is sampled: both take the same parsed grammar. Keeps the most recently used
/// few of each; thread-safe.
/// </summary>
public static class GrammarCache
{
    private const int Capacity = 32;
    private static readonly Recent<string, Grammar> Parsed = new(Capacity);
    private static readonly Recent<(string Text, TokenVocabulary Vocabulary), GrammarAutomaton> Compiled = new(Capacity);

    /// <summary>The parsed <paramref name="grammar"/> (GBNF).</summary>
    /// <exception cref="GrammarException">The grammar is not valid.</exception>
    public static Grammar Parse(string grammar)
    {
        ArgumentNullException.ThrowIfNull(grammar);
        return Parsed.GetOrAdd(grammar, text => Gbnf.Parse(text));
    }

    /// <summary>The automaton of <paramref name="grammar"/> (GBNF) over <paramref name="vocabulary"/>.</summary>
    /// <exception cref="GrammarException">The grammar is not valid.</exception>
    public static GrammarAutomaton Get(string grammar, TokenVocabulary vocabulary)
    {
        ArgumentNullException.ThrowIfNull(grammar);
        ArgumentNullException.ThrowIfNull(vocabulary);
        return Compiled.GetOrAdd((grammar, vocabulary), key => new GrammarAutomaton(Parse(key.Text), key.Vocabulary));
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

/// <summary>
/// The most recently used values by key, made outside the lock (a large grammar must not hold up requests whose grammar
/// is kept); two callers making the same value at once both make it, and one is kept.
/// </summary>
internal sealed class Recent<TKey, TValue>(int capacity) where TKey : notnull
{
    private readonly LinkedList<(TKey Key, TValue Value)> _entries = new();
    private readonly Lock _gate = new();

    public TValue GetOrAdd(TKey key, Func<TKey, TValue> make)
    {
        lock (_gate)
        {
            for (var node = _entries.First; node is not null; node = node.Next)
            {
                if (EqualityComparer<TKey>.Default.Equals(node.Value.Key, key))
                {
                    _entries.Remove(node);
                    _entries.AddFirst(node);
                    return node.Value.Value;
                }
            }
        }
        var value = make(key);
        lock (_gate)
        {
            _entries.AddFirst((key, value));
            while (_entries.Count > capacity)
                _entries.RemoveLast();
        }
        return value;
    }
}
