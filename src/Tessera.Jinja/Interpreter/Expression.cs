namespace Tessera.Jinja;

/// <summary>An expression node of the template syntax tree.</summary>
internal abstract record Expression(SourcePosition Position);

internal sealed record LiteralExpression(SourcePosition Position, object? Value) : Expression(Position);

internal sealed record NameExpression(SourcePosition Position, string Name) : Expression(Position);

internal sealed record ListExpression(SourcePosition Position, IReadOnlyList<Expression> Items) : Expression(Position);

internal sealed record TupleExpression(SourcePosition Position, IReadOnlyList<Expression> Items) : Expression(Position);

internal sealed record DictEntry(Expression Key, Expression Value);

internal sealed record DictExpression(SourcePosition Position, IReadOnlyList<DictEntry> Entries) : Expression(Position);

/// <summary><c>target.name</c>: attribute first, then item (Jinja's <c>getattr</c>).</summary>
internal sealed record AttributeExpression(SourcePosition Position, Expression Target, string Name) : Expression(Position);

/// <summary><c>target[key]</c>: item first, then attribute (Jinja's <c>getitem</c>).</summary>
internal sealed record ItemExpression(SourcePosition Position, Expression Target, Expression Key) : Expression(Position);

/// <summary><c>target[start:stop:step]</c> with Python slice semantics.</summary>
internal sealed record SliceExpression(SourcePosition Position, Expression Target, Expression? Start, Expression? Stop, Expression? Step)
    : Expression(Position);

internal enum UnaryOperator
{
    Not,
    Negate,
    Plus,
}

internal sealed record UnaryExpression(SourcePosition Position, UnaryOperator Operator, Expression Operand) : Expression(Position);

internal enum BinaryOperator
{
    Add,
    Subtract,
    Multiply,
    Divide,
    FloorDivide,
    Modulo,
    Power,
    Concat,
    And,
    Or,
}

internal sealed record BinaryExpression(SourcePosition Position, BinaryOperator Operator, Expression Left, Expression Right)
    : Expression(Position);

internal enum CompareOperator
{
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    In,
    NotIn,
}

internal sealed record Comparison(CompareOperator Operator, Expression Operand);

/// <summary>A chain of comparisons, <c>a &lt; b &lt;= c</c>, true when every link holds.</summary>
internal sealed record CompareExpression(SourcePosition Position, Expression First, IReadOnlyList<Comparison> Rest) : Expression(Position);

/// <summary><c>then if test else otherwise</c>; a missing else gives undefined.</summary>
internal sealed record ConditionalExpression(SourcePosition Position, Expression Test, Expression Then, Expression? Otherwise)
    : Expression(Position);

internal sealed record KeywordArgument(string Name, Expression Value);

internal sealed record ArgumentList(IReadOnlyList<Expression> Positional, IReadOnlyList<KeywordArgument> Keyword)
{
    public static ArgumentList Empty { get; } = new([], []);
}

internal sealed record CallExpression(SourcePosition Position, Expression Callee, ArgumentList Arguments) : Expression(Position);

/// <summary><c>target | name(arguments)</c>.</summary>
internal sealed record FilterExpression(SourcePosition Position, Expression Target, string Name, ArgumentList Arguments)
    : Expression(Position);

/// <summary><c>target is [not] name(arguments)</c>.</summary>
internal sealed record TestExpression(SourcePosition Position, Expression Target, string Name, ArgumentList Arguments, bool Negated)
    : Expression(Position);
