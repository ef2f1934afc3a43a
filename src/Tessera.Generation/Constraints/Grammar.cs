namespace Tessera.Generation.Constraints;

/// <summary>
/// A context-free grammar over bytes, compiled for matching: every rule is a list of alternatives, every alternative a
/// run of elements ending in <see cref="End"/>. An element is a set of bytes (one byte of the output) or a reference to
/// a rule. Characters outside ASCII were turned into their UTF-8 byte sequences when the grammar was built, so the
/// matcher walks the bytes tokens are made of. Built by <see cref="Gbnf.Parse"/>; immutable and shared by sessions.
/// </summary>
public sealed class Grammar
{
    /// <summary>The element that ends an alternative.</summary>
    internal const int End = -1;

    /// <summary>
    /// Every alternative's elements back to back: a value v &gt;= 0 is byte set v, <see cref="End"/> ends the
    /// alternative, v &lt;= -2 refers to rule -v - 2.
    /// </summary>
    internal readonly int[] Elements;

    /// <summary>Where each rule's alternatives start in <see cref="Elements"/>.</summary>
    internal readonly int[][] RuleStarts;

    /// <summary>The byte sets, 256 bits each as four words.</summary>
    internal readonly ulong[] ByteSets;

    internal readonly string[] RuleNames;

    internal Grammar(int[] elements, int[][] ruleStarts, ulong[] byteSets, string[] ruleNames, int root)
    {
        Elements = elements;
        RuleStarts = ruleStarts;
        ByteSets = byteSets;
        RuleNames = ruleNames;
        Root = root;
        CheckNoLeftRecursion();
    }

    /// <summary>The rule a whole output must match (the one named <c>root</c>).</summary>
    internal int Root { get; }

    /// <summary>How many rules, named and made up for groups and repetitions.</summary>
    public int RuleCount => RuleStarts.Length;

    internal static int RefOf(int rule) => -rule - 2;

    internal static int RuleOf(int element) => -element - 2;

    internal bool SetContains(int set, byte b) => (ByteSets[set * 4 + (b >> 6)] & (1UL << (b & 63))) != 0;

    /// <summary>
    /// Refuses a grammar whose matching would never end: a rule that can reach itself without consuming a byte
    /// (<c>a ::= a "x"</c>, or through rules that can match nothing). The matcher expands rule references eagerly,
    /// as llama.cpp's does, so such a rule would recurse forever.
    /// </summary>
    private void CheckNoLeftRecursion()
    {
        var nullable = new bool[RuleCount];
        for (var changed = true; changed;)
        {
            changed = false;
            for (var r = 0; r < RuleCount; r++)
            {
                if (nullable[r])
                    continue;
                foreach (var start in RuleStarts[r])
                {
                    var p = start;
                    while (Elements[p] <= -2 && nullable[RuleOf(Elements[p])])
                        p++;
                    if (Elements[p] == End)
                    {
                        nullable[r] = changed = true;
                        break;
                    }
                }
            }
        }

        // Edges r -> s where s can come first in r; a cycle is left recursion.
        var edges = new List<int>[RuleCount];
        for (var r = 0; r < RuleCount; r++)
        {
            edges[r] = [];
            foreach (var start in RuleStarts[r])
            {
                for (var p = start; Elements[p] <= -2; p++)
                {
                    edges[r].Add(RuleOf(Elements[p]));
                    if (!nullable[RuleOf(Elements[p])])
                        break;
                }
            }
        }
        // Depth-first with an explicit stack: chains of thousands of rules (long repetitions) must not exhaust the thread's.
        var color = new byte[RuleCount]; // 0 new, 1 on the path, 2 done
        var path = new Stack<(int Rule, int Next)>();
        for (var root = 0; root < RuleCount; root++)
        {
            if (color[root] != 0)
                continue;
            color[root] = 1;
            path.Push((root, 0));
            while (path.Count > 0)
            {
                var (r, next) = path.Pop();
                if (next == edges[r].Count)
                {
                    color[r] = 2;
                    continue;
                }
                path.Push((r, next + 1));
                var s = edges[r][next];
                if (color[s] == 1)
                    throw new GrammarException($"rule '{RuleNames[s]}' is left-recursive (it can reach itself before matching any character); rewrite it with repetition, e.g. a ::= b (\",\" b)*.");
                if (color[s] == 0)
                {
                    color[s] = 1;
                    path.Push((s, 0));
                }
            }
        }
    }
}

/// <summary>A grammar that cannot be used: a syntax error (with line and column), an undefined rule, left recursion.</summary>
public sealed class GrammarException(string message) : Exception(message);
