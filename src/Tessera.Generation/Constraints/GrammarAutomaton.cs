namespace Tessera.Generation.Constraints;

/// <summary>
/// Matches output against a <see cref="Grammar"/> byte by byte and says which tokens may come next, fast enough to run
/// at every decode step.
/// <para>
/// A matcher state is a set of stacks, as in llama.cpp's grammar engine: each stack's top is a byte set the next byte
/// may match, the entries below are where to return when a rule ends. Stacks are built from interned nodes, so equal
/// stacks are the same objects, and states are interned too: the automaton is a deterministic one over bytes, built
/// lazily as output explores it, with each state's transitions and token mask cached. A rule's last reference does not
/// push a return entry (tail calls), so repetitions such as a string's characters come back to the same state instead
/// of growing the stack, and the state inside a JSON string is computed once.
/// </para>
/// Thread-safe: sessions sharing a grammar share its automaton.
/// </summary>
public sealed class GrammarAutomaton
{
    /// <summary>Interned nodes and states kept before the caches are dropped and rebuilt (bounds memory per grammar).</summary>
    private const int MaxNodes = 400_000;
    private const int MaxStates = 40_000;
    private const int MaxMasks = 2048;

    /// <summary>
    /// Parses alive at once, and rule references followed without consuming a byte. JSON grammars stay far below both;
    /// a grammar past them (very ambiguous, or nesting thousands of empty-matching rules) fails its session with
    /// <see cref="InvalidOperationException"/> instead of taking the sampling thread's time or stack.
    /// </summary>
    public const int MaxStacks = 1024;

    private const int MaxExpansionDepth = 512;

    private readonly Grammar _grammar;
    private readonly TokenVocabulary _vocabulary;
    private readonly object _gate = new();
    private Dictionary<(int, StackNode?), StackNode> _nodes = new();
    private Dictionary<StateKey, GrammarState> _states = new();
    private int _masks;
    private int _nextNodeId;

    // Scratch for one transition.
    private readonly HashSet<StackNode> _seen = new(ReferenceEqualityComparer.Instance);
    private readonly List<StackNode> _found = [];

    public GrammarAutomaton(Grammar grammar, TokenVocabulary vocabulary)
    {
        ArgumentNullException.ThrowIfNull(grammar);
        ArgumentNullException.ThrowIfNull(vocabulary);
        _grammar = grammar;
        _vocabulary = vocabulary;
        lock (_gate)
        {
            _found.Clear();
            _seen.Clear();
            var canEnd = false;
            Expand(Grammar.RefOf(grammar.Root), ref canEnd);
            Start = Intern(canEnd);
        }
    }

    public TokenVocabulary Vocabulary => _vocabulary;

    /// <summary>The state before any output.</summary>
    public GrammarState Start { get; }

    /// <summary>The state after <paramref name="b"/>, or <see cref="GrammarState.Dead"/> when the grammar refuses it.</summary>
    public GrammarState Step(GrammarState state, byte b)
    {
        var next = state.Next;
        if (next?[b] is { } cached)
            return cached;
        lock (_gate)
            return StepLocked(state, b);
    }

    /// <summary>The state after all of <paramref name="bytes"/>, or <see cref="GrammarState.Dead"/>.</summary>
    public GrammarState Walk(GrammarState state, ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
        {
            state = Step(state, b);
            if (state.IsDead)
                return state;
        }
        return state;
    }

    /// <summary>Whether token <paramref name="id"/> may come next in <paramref name="state"/>.</summary>
    public bool Allows(GrammarState state, int id)
    {
        if (_vocabulary.IsEndOfGeneration(id))
            return state.CanEnd;
        if ((uint)id >= (uint)_vocabulary.Count)
            return false;
        var bytes = _vocabulary.BytesOf(id);
        return bytes.Length > 0 && !Walk(state, bytes).IsDead;
    }

    /// <summary>
    /// The tokens allowed next, one bit per token id (bit id % 64 of word id / 64): cached on the state, so a state met
    /// again costs nothing. End-of-generation tokens are set when the output may end here.
    /// </summary>
    public ulong[] Mask(GrammarState state)
    {
        if (state.Mask is { } cached)
            return cached;
        var mask = state.CanEnd ? (ulong[])_vocabulary.EndMask.Clone() : new ulong[_vocabulary.EndMask.Length];
        if (!state.IsFinal)
            WalkVocabulary(state, mask);
        lock (_gate)
        {
            if (++_masks > MaxMasks)
            {
                foreach (var s in _states.Values)
                    s.Mask = null;
                _masks = 1;
            }
            state.Mask = mask;
        }
        return mask;
    }

    /// <summary>
    /// Sets the bit of every token whose bytes the grammar accepts from <paramref name="state"/>: the tokens in byte
    /// order, each continuing the states of the prefix it shares with the one before; when a prefix is refused, every
    /// token that starts with it is skipped at once.
    /// </summary>
    private void WalkVocabulary(GrammarState state, ulong[] mask)
    {
        var sorted = _vocabulary.SortedIds;
        var shared = _vocabulary.SharedPrefix;
        var states = new GrammarState[_vocabulary.MaxTokenLength + 1];
        states[0] = state;
        var valid = 0; // states[0..valid] hold the prefixes of the last token walked
        var i = 0;
        while (i < sorted.Length)
        {
            var id = sorted[i];
            var bytes = _vocabulary.BytesOf(id);
            var depth = Math.Min(shared[i], valid);
            var dead = false;
            while (depth < bytes.Length)
            {
                var next = Step(states[depth], bytes[depth]);
                if (next.IsDead)
                {
                    dead = true;
                    break;
                }
                states[++depth] = next;
            }
            valid = depth;
            if (!dead)
            {
                mask[id >> 6] |= 1UL << (id & 63);
                i++;
                continue;
            }
            // bytes[0..depth] is refused: skip every following token that starts with it.
            i++;
            while (i < sorted.Length && shared[i] > depth)
                i++;
        }
    }

    private GrammarState StepLocked(GrammarState state, byte b)
    {
        state.Next ??= new GrammarState?[256];
        if (state.Next[b] is { } cached)
            return cached;
        _found.Clear();
        _seen.Clear();
        var canEnd = false;
        foreach (var node in state.Nodes)
        {
            if (_grammar.SetContains(_grammar.Elements[node.Pos], b))
                ExpandAt(node.Pos + 1, node.Parent, ref canEnd, 0);
        }
        var result = _found.Count == 0 && !canEnd ? GrammarState.Dead : Intern(canEnd);
        if (_nodes.Count > MaxNodes || _states.Count > MaxStates)
            DropCaches();
        state.Next ??= new GrammarState?[256];
        state.Next[b] = result;
        return result;
    }

    /// <summary>Starts matching <paramref name="element"/> (a rule reference) with nothing to return to.</summary>
    private void Expand(int element, ref bool canEnd)
    {
        foreach (var start in _grammar.RuleStarts[Grammar.RuleOf(element)])
            ExpandAt(start, null, ref canEnd, 0);
    }

    /// <summary>
    /// Adds to <see cref="_found"/> every stack whose top is a byte set reachable from position <paramref name="pos"/>
    /// with <paramref name="parent"/> below, resolving rule ends and rule references without consuming a byte.
    /// </summary>
    private void ExpandAt(int pos, StackNode? parent, ref bool canEnd, int depth)
    {
        if (depth > MaxExpansionDepth)
            throw new InvalidOperationException($"the grammar nests rules more than {MaxExpansionDepth} deep without matching a character.");
        while (true)
        {
            var element = _grammar.Elements[pos];
            if (element == Grammar.End)
            {
                if (parent is null)
                {
                    canEnd = true;
                    return;
                }
                pos = parent.Pos;
                parent = parent.Parent;
                continue;
            }
            if (element >= 0)
            {
                var node = Node(pos, parent);
                if (_seen.Add(node))
                {
                    _found.Add(node);
                    if (_found.Count > MaxStacks)
                        throw new InvalidOperationException($"the grammar is too ambiguous: more than {MaxStacks} parses of the output are alive at once.");
                }
                return;
            }
            // A rule reference: return to the element after it, or straight to the parent when it ends the alternative.
            var ret = _grammar.Elements[pos + 1] == Grammar.End ? parent : Node(pos + 1, parent);
            foreach (var start in _grammar.RuleStarts[Grammar.RuleOf(element)])
                ExpandAt(start, ret, ref canEnd, depth + 1);
            return;
        }
    }

    private StackNode Node(int pos, StackNode? parent)
    {
        if (!_nodes.TryGetValue((pos, parent), out var node))
        {
            node = new StackNode(pos, parent, _nextNodeId++);
            _nodes[(pos, parent)] = node;
        }
        return node;
    }

    private GrammarState Intern(bool canEnd)
    {
        var nodes = _found.ToArray();
        Array.Sort(nodes, static (a, b) => a.Id.CompareTo(b.Id));
        var key = new StateKey(nodes, canEnd);
        if (!_states.TryGetValue(key, out var state))
        {
            state = new GrammarState(nodes, canEnd);
            _states[key] = state;
        }
        return state;
    }

    private void DropCaches()
    {
        foreach (var s in _states.Values)
        {
            s.Next = null;
            s.Mask = null;
        }
        _states = new Dictionary<StateKey, GrammarState>();
        _nodes = new Dictionary<(int, StackNode?), StackNode>();
        _masks = 0;
    }

    /// <summary>Identity of a state: its stacks (interned, so compared by reference) and whether output may end.</summary>
    private readonly struct StateKey(StackNode[] nodes, bool canEnd) : IEquatable<StateKey>
    {
        private readonly int _hash = HashOf(nodes, canEnd);

        public bool Equals(StateKey other)
        {
            if (canEnd != other.CanEnd || nodes.Length != other.Nodes.Length || _hash != other._hash)
                return false;
            for (var i = 0; i < nodes.Length; i++)
            {
                if (!ReferenceEquals(nodes[i], other.Nodes[i]))
                    return false;
            }
            return true;
        }

        private StackNode[] Nodes => nodes;

        private bool CanEnd => canEnd;

        public override bool Equals(object? obj) => obj is StateKey k && Equals(k);

        public override int GetHashCode() => _hash;

        private static int HashOf(StackNode[] nodes, bool canEnd)
        {
            var h = new HashCode();
            h.Add(canEnd);
            foreach (var n in nodes)
                h.Add(n.Id);
            return h.ToHashCode();
        }
    }
}

/// <summary>One entry of a matcher stack: a position in the grammar and the entry to return to below it.</summary>
internal sealed class StackNode(int pos, StackNode? parent, int id)
{
    public int Pos { get; } = pos;

    public StackNode? Parent { get; } = parent;

    public int Id { get; } = id;
}

/// <summary>Where a match stands: the stacks still alive, and whether the output so far is a whole match.</summary>
public sealed class GrammarState
{
    /// <summary>The state after a byte the grammar refuses.</summary>
    public static readonly GrammarState Dead = new([], canEnd: false);

    internal GrammarState(StackNode[] nodes, bool canEnd)
    {
        Nodes = nodes;
        CanEnd = canEnd;
    }

    internal StackNode[] Nodes { get; }

    internal GrammarState?[]? Next { get; set; }

    internal ulong[]? Mask { get; set; }

    /// <summary>The output so far matches the whole grammar: an end-of-generation token may come now.</summary>
    public bool CanEnd { get; }

    /// <summary>Nothing more may follow: only an end-of-generation token.</summary>
    public bool IsFinal => Nodes.Length == 0;

    public bool IsDead => Nodes.Length == 0 && !CanEnd;
}
