using System.Text;
using Tessera.Generation.Constraints;

namespace Tessera.Generation.Tests.Constraints;

/// <summary>Grammars over a vocabulary of the 256 single bytes (ids 0-255) and one end token (256), for exact checks.</summary>
internal static class ByteGrammar
{
    public const int End = 256;

    public static readonly TokenVocabulary Bytes = new(
        Enumerable.Range(0, 257).Select(i => i < 256 ? new[] { (byte)i } : Array.Empty<byte>()).ToArray(), [End]);

    public static GrammarAutomaton Compile(string gbnf) => new(Gbnf.Parse(gbnf), Bytes);

    /// <summary>The state after <paramref name="text"/>'s UTF-8 bytes.</summary>
    public static GrammarState After(GrammarAutomaton automaton, string text) => automaton.Walk(automaton.Start, Encoding.UTF8.GetBytes(text));

    /// <summary>Whether <paramref name="text"/> is a whole match.</summary>
    public static bool Matches(GrammarAutomaton automaton, string text) => After(automaton, text).CanEnd;

    /// <summary>Whether <paramref name="text"/> can still be continued into a match.</summary>
    public static bool IsPrefix(GrammarAutomaton automaton, string text) => !After(automaton, text).IsDead;

    public static bool Matches(string gbnf, string text) => Matches(Compile(gbnf), text);
}
