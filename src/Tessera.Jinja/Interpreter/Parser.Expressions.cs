namespace Tessera.Jinja;

internal sealed partial class Parser
{
    private static readonly HashSet<string> TestArgumentStopWords = ["else", "or", "and", "if", "in", "not", "is"];

    /// <summary>One expression or, with commas, a tuple (as in <c>{% set a, b = 1, 2 %}</c>).</summary>
    private Expression ParseTuple(bool withCondition)
    {
        var start = Current;
        var first = withCondition ? ParseExpression() : ParseOr();
        if (!Current.IsOperator(","))
            return first;
        var items = new List<Expression> { first };
        while (Current.IsOperator(","))
        {
            Advance();
            if (IsTupleEnd())
                break;
            items.Add(withCondition ? ParseExpression() : ParseOr());
        }
        return new TupleExpression(start.Position, items);
    }

    private bool IsTupleEnd() =>
        Current.Kind is TokenKind.VariableEnd or TokenKind.BlockEnd or TokenKind.EndOfTemplate
        || Current.IsOperator(")") || Current.IsName("if");

    private Expression ParseExpression()
    {
        EnterNesting();
        var expression = ParseOr();
        while (Current.IsName("if"))
        {
            var at = Advance();
            var test = ParseOr();
            Expression? otherwise = null;
            if (Current.IsName("else"))
            {
                Advance();
                otherwise = ParseExpression();
            }
            expression = new ConditionalExpression(at.Position, test, expression, otherwise);
        }
        _depth--;
        return expression;
    }

    private Expression ParseOr()
    {
        var left = ParseAnd();
        var levels = 0;
        while (Current.IsName("or"))
        {
            var at = Advance();
            EnterNesting();
            levels++;
            left = new BinaryExpression(at.Position, BinaryOperator.Or, left, ParseAnd());
        }
        _depth -= levels;
        return left;
    }

    private Expression ParseAnd()
    {
        var left = ParseNot();
        var levels = 0;
        while (Current.IsName("and"))
        {
            var at = Advance();
            EnterNesting();
            levels++;
            left = new BinaryExpression(at.Position, BinaryOperator.And, left, ParseNot());
        }
        _depth -= levels;
        return left;
    }

    private Expression ParseNot()
    {
        if (!Current.IsName("not"))
            return ParseCompare();
        var at = Advance();
        EnterNesting();
        var operand = ParseNot();
        _depth--;
        return new UnaryExpression(at.Position, UnaryOperator.Not, operand);
    }

    private Expression ParseCompare()
    {
        var first = ParseMath1();
        var rest = new List<Comparison>();
        while (true)
        {
            CompareOperator op;
            var token = Current;
            if (token.Kind == TokenKind.Operator && token.Text is "==" or "!=" or "<" or "<=" or ">" or ">=")
            {
                op = token.Text switch
                {
                    "==" => CompareOperator.Equal,
                    "!=" => CompareOperator.NotEqual,
                    "<" => CompareOperator.Less,
                    "<=" => CompareOperator.LessOrEqual,
                    ">" => CompareOperator.Greater,
                    _ => CompareOperator.GreaterOrEqual,
                };
                Advance();
            }
            else if (token.IsName("in"))
            {
                op = CompareOperator.In;
                Advance();
            }
            else if (token.IsName("not") && Peek().IsName("in"))
            {
                op = CompareOperator.NotIn;
                Advance();
                Advance();
            }
            else
            {
                break;
            }
            EnterNesting();
            rest.Add(new Comparison(op, ParseMath1()));
        }
        _depth -= rest.Count;
        return rest.Count == 0 ? first : new CompareExpression(first.Position, first, rest);
    }

    private Expression ParseMath1()
    {
        var left = ParseConcat();
        var levels = 0;
        while (Current.IsOperator("+") || Current.IsOperator("-"))
        {
            var at = Advance();
            EnterNesting();
            levels++;
            var op = at.Text == "+" ? BinaryOperator.Add : BinaryOperator.Subtract;
            left = new BinaryExpression(at.Position, op, left, ParseConcat());
        }
        _depth -= levels;
        return left;
    }

    private Expression ParseConcat()
    {
        var left = ParseMath2();
        var levels = 0;
        while (Current.IsOperator("~"))
        {
            var at = Advance();
            EnterNesting();
            levels++;
            left = new BinaryExpression(at.Position, BinaryOperator.Concat, left, ParseMath2());
        }
        _depth -= levels;
        return left;
    }

    private Expression ParseMath2()
    {
        var left = ParsePower();
        var levels = 0;
        while (Current.Kind == TokenKind.Operator && Current.Text is "*" or "/" or "//" or "%")
        {
            var at = Advance();
            EnterNesting();
            levels++;
            var op = at.Text switch
            {
                "*" => BinaryOperator.Multiply,
                "/" => BinaryOperator.Divide,
                "//" => BinaryOperator.FloorDivide,
                _ => BinaryOperator.Modulo,
            };
            left = new BinaryExpression(at.Position, op, left, ParsePower());
        }
        _depth -= levels;
        return left;
    }

    private Expression ParsePower()
    {
        var left = ParseUnary(withFilter: true);
        var levels = 0;
        while (Current.IsOperator("**"))
        {
            var at = Advance();
            EnterNesting();
            levels++;
            left = new BinaryExpression(at.Position, BinaryOperator.Power, left, ParseUnary(withFilter: true));
        }
        _depth -= levels;
        return left;
    }

    private Expression ParseUnary(bool withFilter)
    {
        Expression node;
        if (Current.IsOperator("-") || Current.IsOperator("+"))
        {
            var at = Advance();
            EnterNesting();
            var operand = ParseUnary(withFilter: false);
            _depth--;
            node = new UnaryExpression(at.Position, at.Text == "-" ? UnaryOperator.Negate : UnaryOperator.Plus, operand);
        }
        else
        {
            node = ParsePrimary();
        }
        node = ParsePostfix(node);
        return withFilter ? ParseFilterAndTest(node) : node;
    }

    private Expression ParsePrimary()
    {
        var token = Current;
        switch (token.Kind)
        {
            case TokenKind.Name:
                Advance();
                return token.Text switch
                {
                    "true" or "True" => new LiteralExpression(token.Position, true),
                    "false" or "False" => new LiteralExpression(token.Position, false),
                    "none" or "None" => new LiteralExpression(token.Position, null),
                    _ => new NameExpression(token.Position, token.Text),
                };
            case TokenKind.String:
                var text = (string)token.Literal!;
                Advance();
                while (Current.Kind == TokenKind.String)
                    text += (string)Advance().Literal!;
                return new LiteralExpression(token.Position, text);
            case TokenKind.Integer:
            case TokenKind.Float:
                Advance();
                return new LiteralExpression(token.Position, token.Literal);
            case TokenKind.Operator when token.Text == "(":
                Advance();
                if (Current.IsOperator(")"))
                {
                    Advance();
                    return new TupleExpression(token.Position, []);
                }
                var inner = ParseTuple(withCondition: true);
                Expect(TokenKind.Operator, "')' to close the parenthesis", ")");
                return inner;
            case TokenKind.Operator when token.Text == "[":
                Advance();
                return new ListExpression(token.Position, ParseSequence("]"));
            case TokenKind.Operator when token.Text == "{":
                Advance();
                return ParseDict(token);
            default:
                throw Error(token, $"expected an expression, found {token.Describe()}");
        }
    }

    private List<Expression> ParseSequence(string close)
    {
        var items = new List<Expression>();
        while (!Current.IsOperator(close))
        {
            if (items.Count > 0)
            {
                Expect(TokenKind.Operator, $"',' or '{close}'", ",");
                if (Current.IsOperator(close))
                    break;
            }
            items.Add(ParseExpression());
        }
        Advance();
        return items;
    }

    private DictExpression ParseDict(Token open)
    {
        var entries = new List<DictEntry>();
        while (!Current.IsOperator("}"))
        {
            if (entries.Count > 0)
            {
                Expect(TokenKind.Operator, "',' or '}' in the dict literal", ",");
                if (Current.IsOperator("}"))
                    break;
            }
            var key = ParseExpression();
            Expect(TokenKind.Operator, "':' after the dict key", ":");
            entries.Add(new DictEntry(key, ParseExpression()));
        }
        Advance();
        return new DictExpression(open.Position, entries);
    }

    private Expression ParsePostfix(Expression node)
    {
        var levels = 0;
        while (true)
        {
            var token = Current;
            EnterNesting();
            levels++;
            if (token.IsOperator("."))
            {
                Advance();
                var name = Current;
                if (name.Kind == TokenKind.Name)
                    node = new AttributeExpression(name.Position, node, Advance().Text);
                else if (name.Kind == TokenKind.Integer)
                    node = new ItemExpression(name.Position, node, new LiteralExpression(name.Position, Advance().Literal));
                else
                    throw Error(name, $"expected an attribute name after '.', found {name.Describe()}");
            }
            else if (token.IsOperator("["))
            {
                Advance();
                node = ParseSubscript(token, node);
            }
            else if (token.IsOperator("("))
            {
                node = new CallExpression(token.Position, node, ParseCallArguments());
            }
            else
            {
                _depth -= levels;
                return node;
            }
        }
    }

    private Expression ParseSubscript(Token open, Expression target)
    {
        Expression? start = null;
        if (!Current.IsOperator(":"))
        {
            start = ParseExpression();
            if (!Current.IsOperator(":"))
            {
                Expect(TokenKind.Operator, "']' to close the subscript", "]");
                return new ItemExpression(open.Position, target, start);
            }
        }
        Advance();
        Expression? stop = null;
        Expression? step = null;
        if (!Current.IsOperator("]") && !Current.IsOperator(":"))
            stop = ParseExpression();
        if (Current.IsOperator(":"))
        {
            Advance();
            if (!Current.IsOperator("]"))
                step = ParseExpression();
        }
        Expect(TokenKind.Operator, "']' to close the slice", "]");
        return new SliceExpression(open.Position, target, start, stop, step);
    }

    private Expression ParseFilterAndTest(Expression node)
    {
        var levels = 0;
        while (true)
        {
            var token = Current;
            EnterNesting();
            levels++;
            if (token.IsOperator("|"))
            {
                Advance();
                var filter = ParseFilterCall();
                node = new FilterExpression(filter.Position, node, filter.Name, filter.Arguments);
            }
            else if (token.IsName("is"))
            {
                Advance();
                var negated = false;
                if (Current.IsName("not"))
                {
                    Advance();
                    negated = true;
                }
                var name = Current;
                if (name.Kind != TokenKind.Name)
                    throw Error(name, $"expected a test name after 'is' (such as 'defined' or 'none'), found {name.Describe()}");
                Advance();
                if (!BuiltinTests.IsKnown(name.Text))
                    throw Error(name, $"unknown test '{name.Text}'");
                ArgumentList arguments;
                if (Current.IsOperator("("))
                {
                    arguments = ParseCallArguments();
                }
                else if (StartsTestArgument(Current))
                {
                    var argument = ParsePostfix(ParsePrimary());
                    arguments = new ArgumentList([argument], []);
                }
                else
                {
                    arguments = ArgumentList.Empty;
                }
                node = new TestExpression(name.Position, node, name.Text, arguments, negated);
            }
            else if (token.IsOperator("("))
            {
                node = new CallExpression(token.Position, node, ParseCallArguments());
            }
            else
            {
                _depth -= levels;
                return node;
            }
        }
    }

    private static bool StartsTestArgument(Token token) => token.Kind switch
    {
        TokenKind.Name => !TestArgumentStopWords.Contains(token.Text),
        TokenKind.String or TokenKind.Integer or TokenKind.Float => true,
        TokenKind.Operator => token.Text is "[" or "{",
        _ => false,
    };

    private ArgumentList ParseCallArguments()
    {
        Expect(TokenKind.Operator, "'('", "(");
        EnterNesting();
        var positional = new List<Expression>();
        var keyword = new List<KeywordArgument>();
        while (!Current.IsOperator(")"))
        {
            if (positional.Count + keyword.Count > 0)
            {
                Expect(TokenKind.Operator, "',' or ')' in the argument list", ",");
                if (Current.IsOperator(")"))
                    break;
            }
            if (Current.IsOperator("*") || Current.IsOperator("**"))
                throw Error(Current, "'*' and '**' argument unpacking is not supported");
            if (Current.Kind == TokenKind.Name && Peek().IsOperator("="))
            {
                var name = Advance().Text;
                Advance();
                keyword.Add(new KeywordArgument(name, ParseExpression()));
            }
            else
            {
                if (keyword.Count > 0)
                    throw Error(Current, "a positional argument cannot follow a keyword argument");
                positional.Add(ParseExpression());
            }
        }
        Advance();
        _depth--;
        return new ArgumentList(positional, keyword);
    }
}
