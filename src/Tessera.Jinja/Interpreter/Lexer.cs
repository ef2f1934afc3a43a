using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Tessera.Jinja;

/// <summary>
/// Splits template source into text and tag tokens, applying whitespace control
/// (<c>-</c> and <c>+</c> markers, trim_blocks, lstrip_blocks) the way Jinja's lexer does.
/// </summary>
internal sealed partial class Lexer
{
    private static readonly string[] TwoCharOperators = ["**", "//", "==", "!=", "<=", ">="];
    private const string OneCharOperators = "+-*/%~<>=()[]{},.:|";

    private readonly string _source;
    private readonly JinjaSyntaxOptions _options;
    private readonly List<Token> _tokens = [];
    private readonly List<int> _lineStarts = [0];
    private int _pos;
    private bool _stripLeadingWhitespace;
    private bool _trimLeadingNewline;

    private Lexer(string source, JinjaSyntaxOptions options)
    {
        _source = source;
        _options = options;
        for (var i = 0; i < source.Length; i++)
        {
            if (source[i] == '\n')
                _lineStarts.Add(i + 1);
        }
    }

    public static IReadOnlyList<Token> Tokenize(string source, JinjaSyntaxOptions options)
    {
        var normalized = source.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n');
        if (!options.KeepTrailingNewline && normalized.EndsWith('\n'))
            normalized = normalized[..^1];
        return new Lexer(normalized, options).Run();
    }

    private List<Token> Run()
    {
        var length = _source.Length;
        while (_pos < length)
        {
            var tagStart = FindTagStart(_pos);
            var textStart = _pos;
            var textStop = tagStart < 0 ? length : tagStart;

            if (_stripLeadingWhitespace)
            {
                while (textStart < textStop && char.IsWhiteSpace(_source[textStart]))
                    textStart++;
            }
            else if (_trimLeadingNewline && textStart < textStop && _source[textStart] == '\n')
            {
                textStart++;
            }
            _stripLeadingWhitespace = false;
            _trimLeadingNewline = false;

            if (tagStart >= 0)
            {
                var kind = _source[tagStart + 1];
                var modifier = tagStart + 2 < length ? _source[tagStart + 2] : '\0';
                if (modifier == '-')
                {
                    while (textStop > textStart && char.IsWhiteSpace(_source[textStop - 1]))
                        textStop--;
                }
                else if (modifier != '+' && kind != '{' && _options.LstripBlocks)
                {
                    textStop = LstripBeforeTag(textStart, textStop);
                }
            }

            if (textStop > textStart)
                _tokens.Add(new Token(TokenKind.Text, _source[textStart..textStop], PositionAt(textStart)));
            if (tagStart < 0)
                break;

            _pos = tagStart;
            switch (_source[tagStart + 1])
            {
                case '#':
                    LexComment();
                    break;
                case '%':
                    LexTag(isBlock: true);
                    break;
                default:
                    LexTag(isBlock: false);
                    break;
            }
        }
        _tokens.Add(new Token(TokenKind.EndOfTemplate, "", PositionAt(_source.Length)));
        return _tokens;
    }

    /// <summary>lstrip_blocks: drop spaces and tabs between the start of the line and the tag.</summary>
    private int LstripBeforeTag(int textStart, int textStop)
    {
        var lastNewline = textStop > textStart ? _source.LastIndexOf('\n', textStop - 1, textStop - textStart) : -1;
        int lineStart;
        if (lastNewline >= 0)
            lineStart = lastNewline + 1;
        else if (textStart == 0 || _source[textStart - 1] == '\n')
            lineStart = textStart;
        else
            return textStop;
        for (var i = lineStart; i < textStop; i++)
        {
            if (_source[i] is not (' ' or '\t'))
                return textStop;
        }
        return lineStart;
    }

    private int FindTagStart(int from)
    {
        while (true)
        {
            var i = _source.IndexOf('{', from);
            if (i < 0 || i + 1 >= _source.Length)
                return -1;
            if (_source[i + 1] is '{' or '%' or '#')
                return i;
            from = i + 1;
        }
    }

    private void LexComment()
    {
        var open = _pos;
        var close = _source.IndexOf("#}", open + 2, StringComparison.Ordinal);
        if (close < 0)
            throw Error(open, "the comment opened here is never closed; expected '#}'");
        var before = close - 1 >= open + 2 ? _source[close - 1] : '\0';
        if (before == '-')
            _stripLeadingWhitespace = true;
        else if (before != '+')
            _trimLeadingNewline = _options.TrimBlocks;
        _pos = close + 2;
    }

    private void LexTag(bool isBlock)
    {
        var open = _pos;
        _tokens.Add(new Token(isBlock ? TokenKind.BlockBegin : TokenKind.VariableBegin, isBlock ? "{%" : "{{", PositionAt(open)));
        _pos += 2;
        if (_pos < _source.Length && (_source[_pos] == '-' || (isBlock && _source[_pos] == '+')))
            _pos++;
        if (isBlock && TryLexRaw(open))
            return;

        var depth = 0;
        while (true)
        {
            SkipWhitespace();
            if (_pos >= _source.Length)
            {
                throw Error(open, isBlock
                    ? "the tag opened here is never closed; expected '%}'"
                    : "the expression opened here is never closed; expected '}}'");
            }
            if (depth == 0 && TryCloseTag(isBlock))
                return;

            var c = _source[_pos];
            if (c is '"' or '\'')
                LexString();
            else if (char.IsAsciiDigit(c))
                LexNumber();
            else if (char.IsLetter(c) || c == '_')
                LexName();
            else
                depth = LexOperator(depth);
        }
    }

    private bool TryCloseTag(bool isBlock)
    {
        var rest = _source.AsSpan(_pos);
        if (isBlock)
        {
            if (rest.StartsWith("-%}"))
                return Close(TokenKind.BlockEnd, 3, strip: true, trim: false);
            if (rest.StartsWith("+%}"))
                return Close(TokenKind.BlockEnd, 3, strip: false, trim: false);
            if (rest.StartsWith("%}"))
                return Close(TokenKind.BlockEnd, 2, strip: false, trim: _options.TrimBlocks);
            if (rest.StartsWith("}}"))
                throw Error(_pos, "found '}}' where '%}' was expected to close the '{%' tag");
        }
        else
        {
            if (rest.StartsWith("-}}"))
                return Close(TokenKind.VariableEnd, 3, strip: true, trim: false);
            if (rest.StartsWith("}}"))
                return Close(TokenKind.VariableEnd, 2, strip: false, trim: false);
            if (rest.StartsWith("%}"))
                throw Error(_pos, "found '%}' where '}}' was expected to close the '{{' expression");
        }
        return false;
    }

    private bool Close(TokenKind kind, int width, bool strip, bool trim)
    {
        _tokens.Add(new Token(kind, _source.Substring(_pos, width), PositionAt(_pos)));
        _pos += width;
        _stripLeadingWhitespace = strip;
        _trimLeadingNewline = trim;
        return true;
    }

    /// <summary><c>{% raw %}...{% endraw %}</c>: everything between is text.</summary>
    private bool TryLexRaw(int open)
    {
        var begin = RawBeginRegex().Match(_source, _pos);
        if (!begin.Success)
            return false;
        _tokens.RemoveAt(_tokens.Count - 1);
        var contentStart = begin.Index + begin.Length;
        var end = RawEndRegex().Match(_source, contentStart);
        if (!end.Success)
            throw Error(open, "the 'raw' block opened here is never closed; expected '{% endraw %}'");

        var content = _source[contentStart..end.Index];
        if (begin.Groups[1].Value == "-")
            content = content.TrimStart();
        else if (begin.Groups[1].Value != "+" && _options.TrimBlocks && content.StartsWith('\n'))
            content = content[1..];
        if (end.Groups[1].Value == "-")
            content = content.TrimEnd();
        if (content.Length > 0)
            _tokens.Add(new Token(TokenKind.Text, content, PositionAt(contentStart)));

        _pos = end.Index + end.Length;
        _stripLeadingWhitespace = end.Groups[2].Value == "-";
        _trimLeadingNewline = end.Groups[2].Value == "" && _options.TrimBlocks;
        return true;
    }

    [GeneratedRegex(@"\G\s*raw\s*([-+]?)%\}")]
    private static partial Regex RawBeginRegex();

    [GeneratedRegex(@"\{%([-+]?)\s*endraw\s*([-+]?)%\}")]
    private static partial Regex RawEndRegex();

    private void SkipWhitespace()
    {
        while (_pos < _source.Length && char.IsWhiteSpace(_source[_pos]))
            _pos++;
    }

    private void LexName()
    {
        var start = _pos;
        while (_pos < _source.Length && (char.IsLetterOrDigit(_source[_pos]) || _source[_pos] == '_'))
            _pos++;
        _tokens.Add(new Token(TokenKind.Name, _source[start.._pos], PositionAt(start)));
    }

    private void LexNumber()
    {
        var start = _pos;
        SkipDigits();
        var isFloat = false;
        if (_pos + 1 < _source.Length && _source[_pos] == '.' && char.IsAsciiDigit(_source[_pos + 1]))
        {
            isFloat = true;
            _pos++;
            SkipDigits();
        }
        if (_pos < _source.Length && _source[_pos] is 'e' or 'E')
        {
            var save = _pos;
            _pos++;
            if (_pos < _source.Length && _source[_pos] is '+' or '-')
                _pos++;
            if (_pos < _source.Length && char.IsAsciiDigit(_source[_pos]))
            {
                isFloat = true;
                SkipDigits();
            }
            else
            {
                _pos = save;
            }
        }
        var text = _source[start.._pos];
        var digits = text.Replace("_", "", StringComparison.Ordinal);
        if (isFloat)
        {
            _tokens.Add(new Token(TokenKind.Float, text, PositionAt(start), double.Parse(digits, CultureInfo.InvariantCulture)));
        }
        else
        {
            if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
                throw Error(start, $"the integer {text} is too large (the largest is {long.MaxValue})");
            _tokens.Add(new Token(TokenKind.Integer, text, PositionAt(start), value));
        }
    }

    private void SkipDigits()
    {
        while (_pos < _source.Length && (char.IsAsciiDigit(_source[_pos]) || _source[_pos] == '_'))
            _pos++;
    }

    private void LexString()
    {
        var start = _pos;
        var quote = _source[_pos++];
        var raw = new StringBuilder();
        while (true)
        {
            if (_pos >= _source.Length)
                throw Error(start, $"the string literal starting here is never closed; expected {quote}");
            var c = _source[_pos];
            if (c == quote)
            {
                _pos++;
                break;
            }
            if (c == '\\' && _pos + 1 < _source.Length)
            {
                raw.Append(c).Append(_source[_pos + 1]);
                _pos += 2;
                continue;
            }
            raw.Append(c);
            _pos++;
        }
        _tokens.Add(new Token(TokenKind.String, _source[start.._pos], PositionAt(start), StringEscapes.Decode(raw.ToString())));
    }

    private int LexOperator(int depth)
    {
        var start = _pos;
        foreach (var op in TwoCharOperators)
        {
            if (string.CompareOrdinal(_source, _pos, op, 0, 2) == 0)
            {
                _tokens.Add(new Token(TokenKind.Operator, op, PositionAt(start)));
                _pos += 2;
                return depth;
            }
        }
        var c = _source[_pos];
        if (!OneCharOperators.Contains(c))
            throw Error(start, $"unexpected character '{c}' in a tag");
        _tokens.Add(new Token(TokenKind.Operator, c.ToString(), PositionAt(start)));
        _pos++;
        return c switch
        {
            '(' or '[' or '{' => depth + 1,
            ')' or ']' or '}' => Math.Max(0, depth - 1),
            _ => depth,
        };
    }

    private SourcePosition PositionAt(int offset)
    {
        var index = _lineStarts.BinarySearch(offset);
        if (index < 0)
            index = ~index - 1;
        return new SourcePosition(index + 1, offset - _lineStarts[index] + 1);
    }

    private TemplateSyntaxException Error(int offset, string detail)
    {
        var at = PositionAt(offset);
        return new TemplateSyntaxException(detail, at.Line, at.Column);
    }
}
