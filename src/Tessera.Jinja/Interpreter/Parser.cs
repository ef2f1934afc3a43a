namespace Tessera.Jinja;

/// <summary>
/// Recursive-descent parser from tokens to a syntax tree, following Jinja's grammar and
/// operator precedence. Errors name the position and what was expected.
/// </summary>
internal sealed partial class Parser
{
    /// <summary>Deepest nesting of blocks and sub-expressions accepted; bounds the interpreter's stack use.</summary>
    private const int MaxNestingDepth = 200;

    private static readonly HashSet<string> UnsupportedTags =
        ["include", "extends", "import", "from", "block", "call", "with", "autoescape", "do", "trans", "pluralization"];

    private readonly IReadOnlyList<Token> _tokens;
    private readonly Stack<(string Tag, SourcePosition Position)> _openBlocks = new();
    private int _index;
    private int _depth;
    private int _loopDepth;

    private Parser(IReadOnlyList<Token> tokens)
    {
        _tokens = tokens;
    }

    public static IReadOnlyList<Statement> Parse(IReadOnlyList<Token> tokens) => new Parser(tokens).Subparse([]);

    private Token Current => _tokens[_index];

    private Token Peek(int offset = 1) => _tokens[Math.Min(_index + offset, _tokens.Count - 1)];

    private Token Advance()
    {
        var token = _tokens[_index];
        if (_index < _tokens.Count - 1)
            _index++;
        return token;
    }

    private List<Statement> Subparse(string[] endTags)
    {
        EnterNesting();
        var body = new List<Statement>();
        while (true)
        {
            var token = Current;
            switch (token.Kind)
            {
                case TokenKind.Text:
                    body.Add(new TextStatement(token.Position, token.Text));
                    Advance();
                    break;
                case TokenKind.VariableBegin:
                    Advance();
                    var value = ParseTuple(withCondition: true);
                    Expect(TokenKind.VariableEnd, "'}}' to close the expression");
                    body.Add(new OutputStatement(token.Position, value));
                    break;
                case TokenKind.BlockBegin:
                    Advance();
                    if (Current.Kind == TokenKind.Name && endTags.Contains(Current.Text))
                    {
                        _depth--;
                        return body;
                    }
                    body.Add(ParseStatement());
                    break;
                case TokenKind.EndOfTemplate:
                    if (endTags.Length > 0)
                    {
                        var (tag, opened) = _openBlocks.Peek();
                        throw Error(token, $"expected {Quote(endTags[^1])} to close the '{tag}' block opened at {opened}, but reached the end of the template");
                    }
                    _depth--;
                    return body;
                default:
                    throw Error(token, $"unexpected {token.Describe()}");
            }
        }
    }

    private Statement ParseStatement()
    {
        var tag = Current;
        if (tag.Kind != TokenKind.Name)
            throw Error(tag, $"expected a tag name such as 'if', 'for' or 'set' after '{{%', found {tag.Describe()}");
        switch (tag.Text)
        {
            case "if":
                return ParseIf();
            case "for":
                return ParseFor();
            case "set":
                return ParseSet();
            case "macro":
                return ParseMacro();
            case "filter":
                return ParseFilterBlock();
            case "generation":
                return ParseGeneration();
            case "break":
            case "continue":
                Advance();
                if (_loopDepth == 0)
                    throw Error(tag, $"'{tag.Text}' is only allowed inside a 'for' loop");
                ExpectBlockEnd();
                return tag.Text == "break" ? new BreakStatement(tag.Position) : new ContinueStatement(tag.Position);
        }
        if (UnsupportedTags.Contains(tag.Text))
            throw Error(tag, $"the '{tag.Text}' tag is not supported in chat templates");
        if (_openBlocks.Count > 0)
        {
            var (open, opened) = _openBlocks.Peek();
            throw Error(tag, $"unexpected tag '{tag.Text}'; the innermost open block is the '{open}' opened at {opened}, which expects {ExpectedEndTags(open)}");
        }
        throw Error(tag, tag.Text.StartsWith("end", StringComparison.Ordinal) || tag.Text is "else" or "elif"
            ? $"unexpected tag '{tag.Text}'; there is no open block for it to close"
            : $"unknown tag '{tag.Text}'");
    }

    private static string ExpectedEndTags(string tag) => tag switch
    {
        "if" => "'elif', 'else' or 'endif'",
        "for" => "'else' or 'endfor'",
        _ => $"'end{tag}'",
    };

    private IfStatement ParseIf()
    {
        var start = Advance();
        _openBlocks.Push(("if", start.Position));
        var branches = new List<ConditionalBranch>();
        IReadOnlyList<Statement>? otherwise = null;
        var test = ParseExpression();
        ExpectBlockEnd();
        branches.Add(new ConditionalBranch(test, Subparse(["elif", "else", "endif"])));
        while (true)
        {
            var tag = Advance();
            if (tag.Text == "elif")
            {
                test = ParseExpression();
                ExpectBlockEnd();
                branches.Add(new ConditionalBranch(test, Subparse(["elif", "else", "endif"])));
            }
            else if (tag.Text == "else")
            {
                ExpectBlockEnd();
                otherwise = Subparse(["endif"]);
            }
            else
            {
                ExpectBlockEnd();
                break;
            }
        }
        _openBlocks.Pop();
        return new IfStatement(start.Position, branches, otherwise);
    }

    private ForStatement ParseFor()
    {
        var start = Advance();
        _openBlocks.Push(("for", start.Position));
        var target = ParseAssignTarget(allowNamespaceAttribute: false);
        ExpectName("in");
        var iterable = ParseTuple(withCondition: false);
        Expression? filter = null;
        if (Current.IsName("if"))
        {
            Advance();
            filter = ParseExpression();
        }
        if (Current.IsName("recursive"))
            throw Error(Current, "recursive loops are not supported");
        ExpectBlockEnd();

        _loopDepth++;
        var body = Subparse(["endfor", "else"]);
        _loopDepth--;
        IReadOnlyList<Statement>? otherwise = null;
        if (Advance().Text == "else")
        {
            ExpectBlockEnd();
            otherwise = Subparse(["endfor"]);
            Advance();
        }
        ExpectBlockEnd();
        _openBlocks.Pop();
        return new ForStatement(start.Position, target, iterable, filter, body, otherwise);
    }

    private Statement ParseSet()
    {
        var start = Advance();
        var target = ParseAssignTarget(allowNamespaceAttribute: true);
        if (Current.IsOperator("="))
        {
            Advance();
            var value = ParseTuple(withCondition: true);
            ExpectBlockEnd();
            return new SetStatement(start.Position, target, value);
        }
        if (Current.Kind != TokenKind.BlockEnd && !Current.IsOperator("|"))
            throw Error(Current, $"expected '=' after the name in 'set', found {Current.Describe()}");
        var filters = ParseFilterChain();
        ExpectBlockEnd();
        _openBlocks.Push(("set", start.Position));
        var body = Subparse(["endset"]);
        Advance();
        ExpectBlockEnd();
        _openBlocks.Pop();
        return new SetBlockStatement(start.Position, target, filters, body);
    }

    private MacroStatement ParseMacro()
    {
        var start = Advance();
        var name = ExpectName(null);
        Expect(TokenKind.Operator, "'(' after the macro name", "(");
        var parameters = new List<MacroParameter>();
        while (!Current.IsOperator(")"))
        {
            if (parameters.Count > 0)
                Expect(TokenKind.Operator, "',' or ')' in the macro's parameter list", ",");
            if (Current.IsOperator(")"))
                break;
            var parameter = ExpectName(null);
            Expression? fallback = null;
            if (Current.IsOperator("="))
            {
                Advance();
                fallback = ParseExpression();
            }
            parameters.Add(new MacroParameter(parameter.Text, fallback));
        }
        Advance();
        ExpectBlockEnd();
        _openBlocks.Push(("macro", start.Position));
        var savedLoopDepth = _loopDepth;
        _loopDepth = 0;
        var body = Subparse(["endmacro"]);
        _loopDepth = savedLoopDepth;
        Advance();
        if (Current.Kind == TokenKind.Name)
            Advance();
        ExpectBlockEnd();
        _openBlocks.Pop();
        return new MacroStatement(start.Position, name.Text, parameters, body);
    }

    private FilterBlockStatement ParseFilterBlock()
    {
        var start = Advance();
        var filters = new List<FilterCall> { ParseFilterCall() };
        filters.AddRange(ParseFilterChain());
        ExpectBlockEnd();
        _openBlocks.Push(("filter", start.Position));
        var body = Subparse(["endfilter"]);
        Advance();
        ExpectBlockEnd();
        _openBlocks.Pop();
        return new FilterBlockStatement(start.Position, filters, body);
    }

    private BlockStatement ParseGeneration()
    {
        var start = Advance();
        ExpectBlockEnd();
        _openBlocks.Push(("generation", start.Position));
        var body = Subparse(["endgeneration"]);
        Advance();
        ExpectBlockEnd();
        _openBlocks.Pop();
        return new BlockStatement(start.Position, body);
    }

    private List<FilterCall> ParseFilterChain()
    {
        var filters = new List<FilterCall>();
        while (Current.IsOperator("|"))
        {
            Advance();
            filters.Add(ParseFilterCall());
        }
        return filters;
    }

    private FilterCall ParseFilterCall()
    {
        var name = ExpectName(null);
        if (!BuiltinFilters.IsKnown(name.Text))
            throw Error(name, $"unknown filter '{name.Text}'");
        var arguments = Current.IsOperator("(") ? ParseCallArguments() : ArgumentList.Empty;
        return new FilterCall(name.Position, name.Text, arguments);
    }

    private AssignTarget ParseAssignTarget(bool allowNamespaceAttribute)
    {
        if (Current.IsOperator("("))
        {
            Advance();
            var inner = ParseAssignTarget(allowNamespaceAttribute: false);
            Expect(TokenKind.Operator, "')' to close the parenthesised names", ")");
            return ContinueTupleTarget(inner);
        }
        var name = ExpectName(null);
        if (allowNamespaceAttribute && Current.IsOperator("."))
        {
            Advance();
            var attribute = ExpectName(null);
            return new NamespaceAttributeTarget(name.Text, attribute.Text);
        }
        return ContinueTupleTarget(new NameTarget(name.Text));
    }

    private AssignTarget ContinueTupleTarget(AssignTarget first)
    {
        if (!Current.IsOperator(","))
            return first;
        var items = new List<AssignTarget> { first };
        while (Current.IsOperator(","))
        {
            Advance();
            if (Current.Kind != TokenKind.Name || Current.IsName("in"))
                break;
            items.Add(new NameTarget(Advance().Text));
        }
        return new TupleTarget(items);
    }

    private void EnterNesting()
    {
        if (++_depth > MaxNestingDepth)
            throw Error(Current, $"the template nests blocks or expressions more than {MaxNestingDepth} levels deep");
    }

    private void ExpectBlockEnd() => Expect(TokenKind.BlockEnd, "'%}' to end the tag");

    private Token Expect(TokenKind kind, string what, string? text = null)
    {
        var token = Current;
        if (token.Kind != kind || (text != null && token.Text != text))
            throw Error(token, $"expected {what}, found {token.Describe()}");
        return Advance();
    }

    private Token ExpectName(string? name)
    {
        var token = Current;
        if (token.Kind != TokenKind.Name || (name != null && token.Text != name))
            throw Error(token, $"expected {(name == null ? "a name" : Quote(name))}, found {token.Describe()}");
        return Advance();
    }

    private static string Quote(string text) => $"'{text}'";

    private static TemplateSyntaxException Error(Token at, string detail) =>
        new(detail, at.Position.Line, at.Position.Column);
}
