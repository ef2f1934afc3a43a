namespace Tessera.Jinja;

/// <summary>A statement node of the template syntax tree.</summary>
internal abstract record Statement(SourcePosition Position);

internal sealed record TextStatement(SourcePosition Position, string Text) : Statement(Position);

/// <summary><c>{{ expression }}</c>.</summary>
internal sealed record OutputStatement(SourcePosition Position, Expression Value) : Statement(Position);

internal sealed record ConditionalBranch(Expression Test, IReadOnlyList<Statement> Body);

internal sealed record IfStatement(SourcePosition Position, IReadOnlyList<ConditionalBranch> Branches, IReadOnlyList<Statement>? Else)
    : Statement(Position);

internal sealed record ForStatement(
    SourcePosition Position,
    AssignTarget Target,
    Expression Iterable,
    Expression? Filter,
    IReadOnlyList<Statement> Body,
    IReadOnlyList<Statement>? Else) : Statement(Position);

internal sealed record SetStatement(SourcePosition Position, AssignTarget Target, Expression Value) : Statement(Position);

internal sealed record FilterCall(SourcePosition Position, string Name, ArgumentList Arguments);

/// <summary><c>{% set x %}body{% endset %}</c>, optionally piped through filters.</summary>
internal sealed record SetBlockStatement(SourcePosition Position, AssignTarget Target, IReadOnlyList<FilterCall> Filters, IReadOnlyList<Statement> Body)
    : Statement(Position);

internal sealed record MacroParameter(string Name, Expression? Default);

internal sealed record MacroStatement(SourcePosition Position, string Name, IReadOnlyList<MacroParameter> Parameters, IReadOnlyList<Statement> Body)
    : Statement(Position);

/// <summary><c>{% filter upper %}body{% endfilter %}</c>.</summary>
internal sealed record FilterBlockStatement(SourcePosition Position, IReadOnlyList<FilterCall> Filters, IReadOnlyList<Statement> Body)
    : Statement(Position);

/// <summary>A body with no scope of its own, e.g. transformers' <c>{% generation %}</c> block.</summary>
internal sealed record BlockStatement(SourcePosition Position, IReadOnlyList<Statement> Body) : Statement(Position);

internal sealed record BreakStatement(SourcePosition Position) : Statement(Position);

internal sealed record ContinueStatement(SourcePosition Position) : Statement(Position);

/// <summary>The left side of <c>set</c> or the variables of <c>for</c>.</summary>
internal abstract record AssignTarget;

internal sealed record NameTarget(string Name) : AssignTarget;

/// <summary><c>ns.attribute</c>, allowed only on <c>namespace()</c> objects.</summary>
internal sealed record NamespaceAttributeTarget(string Namespace, string Attribute) : AssignTarget;

internal sealed record TupleTarget(IReadOnlyList<AssignTarget> Items) : AssignTarget;
