using System.Globalization;
using System.Text;

namespace Tessera.Generation.Constraints;

/// <summary>
/// Reads grammars in llama.cpp's GBNF notation: <c>name ::= alternatives</c>, where an alternative is a sequence of
/// <c>"literals"</c>, character classes (<c>[a-z]</c>, <c>[^"\\]</c>), <c>.</c> (any character), rule names and
/// parenthesised groups, each optionally repeated with <c>*</c>, <c>+</c>, <c>?</c>, <c>{m}</c>, <c>{m,}</c> or
/// <c>{m,n}</c>; <c>#</c> starts a comment. A rule may span lines; the next <c>name ::=</c> starts the next rule.
/// Escapes: <c>\n \r \t \\ \" \[ \] \- \xHH \uHHHH \UHHHHHHHH</c>.
/// </summary>
public static class Gbnf
{
    /// <summary>The longest repetition bound accepted: <c>x{0,100000}</c> would make a hundred thousand rules.</summary>
    public const int MaxRepetition = 4096;

    /// <summary>The deepest nesting of groups: the parser recurses per group, and a grammar must not exhaust its stack.</summary>
    public const int MaxNesting = 64;

    /// <summary>Parses and compiles <paramref name="text"/>; the rule named <paramref name="root"/> matches the whole output.</summary>
    /// <exception cref="GrammarException">The text is not valid GBNF (line and column said), a rule is undefined or left-recursive.</exception>
    public static Grammar Parse(string text, string root = "root")
    {
        ArgumentNullException.ThrowIfNull(text);
        var rules = new Parser(text).ParseRules();
        return new Compiler(rules).Compile(root);
    }

    // ---- syntax tree ----

    private abstract record Node;

    private sealed record Sequence(List<Node> Items) : Node;

    private sealed record Choice(List<Sequence> Options) : Node;

    private sealed record Literal(byte[] Bytes) : Node;

    private sealed record CharClass(List<(int Lo, int Hi)> Ranges, bool Negated) : Node;

    private sealed record Reference(string Name, int Line, int Column) : Node;

    private sealed record Repeat(Node Item, int Min, int Max) : Node; // Max -1: unbounded

    private sealed record RuleDefinition(string Name, Choice Body, int Line, int Column);

    private sealed class Parser(string text)
    {
        private int _pos;
        private int _depth;

        public List<RuleDefinition> ParseRules()
        {
            var rules = new List<RuleDefinition>();
            SkipSpace();
            while (_pos < text.Length)
            {
                var (line, column) = Where(_pos);
                var name = Name() ?? throw Error("a rule name");
                SkipSpace();
                if (!text.AsSpan(_pos).StartsWith("::=", StringComparison.Ordinal))
                    throw Error("'::=' after the rule name");
                _pos += 3;
                rules.Add(new RuleDefinition(name, Alternatives(nested: false), line, column));
                SkipSpace();
            }
            if (rules.Count == 0)
                throw new GrammarException("The grammar defines no rules.");
            return rules;
        }

        private Choice Alternatives(bool nested)
        {
            var options = new List<Sequence> { Sequence(nested) };
            while (true)
            {
                SkipSpace();
                if (_pos < text.Length && text[_pos] == '|')
                {
                    _pos++;
                    options.Add(Sequence(nested));
                    continue;
                }
                return new Choice(options);
            }
        }

        private Sequence Sequence(bool nested)
        {
            var items = new List<Node>();
            while (true)
            {
                SkipSpace();
                if (_pos >= text.Length || text[_pos] is '|' or ')')
                    break;
                if (StartsRule())
                {
                    if (nested)
                        throw Error("')' to close the group");
                    break;
                }
                items.Add(Postfix(Primary()));
            }
            return new Sequence(items);
        }

        private Node Primary()
        {
            var c = text[_pos];
            var (line, column) = Where(_pos);
            switch (c)
            {
                case '"':
                    _pos++;
                    var bytes = new List<byte>();
                    Span<byte> utf8 = stackalloc byte[4];
                    while (true)
                    {
                        if (_pos >= text.Length)
                            throw Error("'\"' to end the string");
                        if (text[_pos] == '"')
                        {
                            _pos++;
                            return new Literal([.. bytes]);
                        }
                        var cp = CodePoint();
                        var n = new Rune(cp).EncodeToUtf8(utf8);
                        for (var i = 0; i < n; i++)
                            bytes.Add(utf8[i]);
                    }
                case '[':
                    _pos++;
                    var negated = _pos < text.Length && text[_pos] == '^';
                    if (negated)
                        _pos++;
                    var ranges = new List<(int, int)>();
                    while (true)
                    {
                        if (_pos >= text.Length)
                            throw Error("']' to end the character class");
                        if (text[_pos] == ']')
                        {
                            _pos++;
                            return new CharClass(ranges, negated);
                        }
                        var lo = CodePoint();
                        var hi = lo;
                        if (_pos + 1 < text.Length && text[_pos] == '-' && text[_pos + 1] != ']')
                        {
                            _pos++;
                            hi = CodePoint();
                            if (hi < lo)
                                throw Error($"a range whose end is not below its start (U+{lo:X4}-U+{hi:X4})");
                        }
                        ranges.Add((lo, hi));
                    }
                case '.':
                    _pos++;
                    return new CharClass([], Negated: true);
                case '(':
                    _pos++;
                    if (++_depth > MaxNesting)
                        throw Error($"groups nested at most {MaxNesting} deep");
                    var group = Alternatives(nested: true);
                    _depth--;
                    SkipSpace();
                    if (_pos >= text.Length || text[_pos] != ')')
                        throw Error("')' to close the group");
                    _pos++;
                    return group;
                default:
                    var name = Name() ?? throw Error("a string, a character class, a rule name or '('");
                    return new Reference(name, line, column);
            }
        }

        private Node Postfix(Node item)
        {
            while (_pos < text.Length)
            {
                switch (text[_pos])
                {
                    case '*':
                        _pos++;
                        item = new Repeat(item, 0, -1);
                        continue;
                    case '+':
                        _pos++;
                        item = new Repeat(item, 1, -1);
                        continue;
                    case '?':
                        _pos++;
                        item = new Repeat(item, 0, 1);
                        continue;
                    case '{':
                        _pos++;
                        var min = Number();
                        var max = min;
                        if (_pos < text.Length && text[_pos] == ',')
                        {
                            _pos++;
                            max = _pos < text.Length && text[_pos] == '}' ? -1 : Number();
                        }
                        if (_pos >= text.Length || text[_pos] != '}')
                            throw Error("'}' to end the repetition");
                        _pos++;
                        if (max != -1 && max < min)
                            throw Error($"a repetition whose maximum ({max}) is at least its minimum ({min})");
                        item = new Repeat(item, min, max);
                        continue;
                }
                break;
            }
            return item;
        }

        private int Number()
        {
            var start = _pos;
            while (_pos < text.Length && char.IsAsciiDigit(text[_pos]))
                _pos++;
            if (start == _pos || !int.TryParse(text.AsSpan(start, _pos - start), NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n > MaxRepetition)
                throw Error($"a repetition count from 0 to {MaxRepetition}");
            return n;
        }

        private int CodePoint()
        {
            var c = text[_pos];
            if (c != '\\')
            {
                if (char.IsHighSurrogate(c) && _pos + 1 < text.Length && char.IsLowSurrogate(text[_pos + 1]))
                {
                    _pos += 2;
                    return char.ConvertToUtf32(c, text[_pos - 1]);
                }
                _pos++;
                return char.IsSurrogate(c) ? throw Error("a whole character (a lone surrogate was found)") : c;
            }
            if (_pos + 1 >= text.Length)
                throw Error("a character after '\\'");
            var e = text[_pos + 1];
            _pos += 2;
            return e switch
            {
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                '\\' or '"' or '[' or ']' or '-' or '/' or '\'' or '^' => e,
                'x' => Hex(2),
                'u' => Hex(4),
                'U' => Hex(8),
                _ => throw Error($"a known escape (\\n \\r \\t \\\\ \\\" \\[ \\] \\- \\xHH \\uHHHH \\UHHHHHHHH), not '\\{e}'"),
            };
        }

        private int Hex(int digits)
        {
            if (_pos + digits > text.Length || !int.TryParse(text.AsSpan(_pos, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var v)
                || v > 0x10FFFF || v is >= 0xD800 and <= 0xDFFF)
                throw Error($"{digits} hexadecimal digits naming a Unicode scalar value");
            _pos += digits;
            return v;
        }

        private string? Name()
        {
            var start = _pos;
            while (_pos < text.Length && (char.IsAsciiLetterOrDigit(text[_pos]) || text[_pos] is '-' or '_'))
                _pos++;
            return _pos == start ? null : text[start.._pos];
        }

        /// <summary>Whether a rule definition (<c>name ::=</c>) starts here.</summary>
        private bool StartsRule()
        {
            var p = _pos;
            while (p < text.Length && (char.IsAsciiLetterOrDigit(text[p]) || text[p] is '-' or '_'))
                p++;
            if (p == _pos)
                return false;
            while (p < text.Length && text[p] is ' ' or '\t' or '\r' or '\n')
                p++;
            return text.AsSpan(p).StartsWith("::=", StringComparison.Ordinal);
        }

        private void SkipSpace()
        {
            while (_pos < text.Length)
            {
                var c = text[_pos];
                if (c is ' ' or '\t' or '\r' or '\n')
                    _pos++;
                else if (c == '#')
                {
                    while (_pos < text.Length && text[_pos] != '\n')
                        _pos++;
                }
                else
                    break;
            }
        }

        private (int Line, int Column) Where(int pos)
        {
            var line = 1;
            var lineStart = 0;
            for (var i = 0; i < pos && i < text.Length; i++)
            {
                if (text[i] == '\n')
                {
                    line++;
                    lineStart = i + 1;
                }
            }
            return (line, pos - lineStart + 1);
        }

        private GrammarException Error(string expected)
        {
            var (line, column) = Where(_pos);
            var found = _pos >= text.Length ? "the end of the grammar" : $"'{text[_pos]}'";
            return new GrammarException($"GBNF syntax error at line {line}, column {column}: expected {expected}, found {found}.");
        }
    }

    // ---- compiler: syntax tree to the flat form the matcher walks ----

    private sealed class Compiler(List<RuleDefinition> definitions)
    {
        private readonly Dictionary<string, int> _ruleIndex = new(StringComparer.Ordinal);
        private readonly List<List<int>> _rules = []; // each rule's alternatives' start offsets
        private readonly List<string> _names = [];
        private readonly List<int> _elements = [];
        private readonly List<ulong> _sets = [];
        private readonly Dictionary<(ulong, ulong, ulong, ulong), int> _setIndex = [];

        public Grammar Compile(string root)
        {
            foreach (var d in definitions)
            {
                if (_ruleIndex.ContainsKey(d.Name))
                    throw new GrammarException($"Rule '{d.Name}' is defined twice (line {d.Line}); join its alternatives with '|'.");
                _ruleIndex[d.Name] = NewRule(d.Name);
            }
            if (!_ruleIndex.TryGetValue(root, out var rootIndex))
                throw new GrammarException($"The grammar has no rule named '{root}', which must match the whole output.");
            foreach (var d in definitions)
                AddAlternatives(_ruleIndex[d.Name], d.Body.Options.Select(o => (Node)o));
            return new Grammar([.. _elements], _rules.Select(r => r.ToArray()).ToArray(), [.. _sets], [.. _names], rootIndex);
        }

        private int NewRule(string name)
        {
            _rules.Add([]);
            _names.Add(name);
            return _rules.Count - 1;
        }

        private void AddAlternatives(int rule, IEnumerable<Node> options)
        {
            foreach (var option in options)
            {
                var body = new List<int>();
                Emit(option, body, _names[rule]);
                AddAlternative(rule, body);
            }
        }

        private void AddAlternative(int rule, List<int> body)
        {
            _rules[rule].Add(_elements.Count);
            _elements.AddRange(body);
            _elements.Add(Grammar.End);
        }

        private void Emit(Node node, List<int> into, string owner)
        {
            switch (node)
            {
                case Sequence s:
                    foreach (var item in s.Items)
                        Emit(item, into, owner);
                    break;
                case Choice { Options.Count: 1 } c:
                    Emit(c.Options[0], into, owner);
                    break;
                case Choice c:
                    var group = NewRule($"{owner}-group{_rules.Count}");
                    AddAlternatives(group, c.Options);
                    into.Add(Grammar.RefOf(group));
                    break;
                case Literal l:
                    foreach (var b in l.Bytes)
                        into.Add(SetOf(b, b));
                    break;
                case CharClass cc:
                    EmitClass(cc, into, owner);
                    break;
                case Reference r:
                    if (!_ruleIndex.TryGetValue(r.Name, out var target))
                        throw new GrammarException($"Rule '{r.Name}' (line {r.Line}, column {r.Column}) is used but never defined.");
                    into.Add(Grammar.RefOf(target));
                    break;
                case Repeat rep:
                    EmitRepeat(rep, into, owner);
                    break;
            }
        }

        private void EmitRepeat(Repeat rep, List<int> into, string owner)
        {
            var item = new List<int>();
            Emit(rep.Item, item, owner);
            for (var i = 0; i < rep.Min; i++)
                into.AddRange(item);
            if (rep.Max == -1)
            {
                // star ::= item star | (nothing): right recursion, which the matcher handles without growing its stacks.
                var star = NewRule($"{owner}-star{_rules.Count}");
                AddAlternative(star, [.. item, Grammar.RefOf(star)]);
                AddAlternative(star, []);
                into.Add(Grammar.RefOf(star));
                return;
            }
            var optional = -1;
            for (var k = 0; k < rep.Max - rep.Min; k++)
            {
                // opt_k ::= item opt_(k-1) | (nothing)
                var rule = NewRule($"{owner}-opt{_rules.Count}");
                AddAlternative(rule, optional < 0 ? item : [.. item, Grammar.RefOf(optional)]);
                AddAlternative(rule, []);
                optional = rule;
            }
            if (optional >= 0)
                into.Add(Grammar.RefOf(optional));
        }

        private void EmitClass(CharClass cc, List<int> into, string owner)
        {
            var ranges = Normalize(cc.Ranges);
            if (cc.Negated)
                ranges = Complement(ranges);
            var ascii = ranges.Where(r => r.Lo < 0x80).Select(r => (r.Lo, Math.Min(r.Hi, 0x7F))).ToList();
            var wide = ranges.Where(r => r.Hi >= 0x80).Select(r => (Math.Max(r.Lo, 0x80), r.Hi)).ToList();
            if (ascii.Count == 0 && wide.Count == 0)
                throw new GrammarException($"A character class in rule '{owner}' matches no character.");
            if (wide.Count == 0)
            {
                into.Add(SetOf(ascii));
                return;
            }
            var rule = NewRule($"{owner}-char{_rules.Count}");
            if (ascii.Count > 0)
                AddAlternative(rule, [SetOf(ascii)]);
            foreach (var (lo, hi) in wide)
            {
                foreach (var sequence in Utf8Ranges.Split(lo, hi))
                    AddAlternative(rule, sequence.Select(b => SetOf(b.Lo, b.Hi)).ToList());
            }
            into.Add(Grammar.RefOf(rule));
        }

        private static List<(int Lo, int Hi)> Normalize(List<(int Lo, int Hi)> ranges)
        {
            var sorted = ranges.OrderBy(r => r.Lo).ToList();
            var merged = new List<(int Lo, int Hi)>();
            foreach (var r in sorted)
            {
                if (merged.Count > 0 && r.Lo <= merged[^1].Hi + 1)
                    merged[^1] = (merged[^1].Lo, Math.Max(merged[^1].Hi, r.Hi));
                else
                    merged.Add(r);
            }
            return merged;
        }

        private static List<(int Lo, int Hi)> Complement(List<(int Lo, int Hi)> ranges)
        {
            var result = new List<(int Lo, int Hi)>();
            var next = 0;
            foreach (var (lo, hi) in ranges)
            {
                if (lo > next)
                    result.Add((next, lo - 1));
                next = hi + 1;
            }
            if (next <= 0x10FFFF)
                result.Add((next, 0x10FFFF));
            return result;
        }

        private int SetOf(byte lo, byte hi) => SetOf([(lo, hi)]);

        private int SetOf(List<(int Lo, int Hi)> ranges)
        {
            Span<ulong> words = stackalloc ulong[4];
            foreach (var (lo, hi) in ranges)
            {
                for (var b = lo; b <= hi; b++)
                    words[b >> 6] |= 1UL << (b & 63);
            }
            var key = (words[0], words[1], words[2], words[3]);
            if (!_setIndex.TryGetValue(key, out var index))
            {
                index = _sets.Count / 4;
                _sets.AddRange(words);
                _setIndex[key] = index;
            }
            return index;
        }
    }
}
