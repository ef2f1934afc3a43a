namespace Tessera.Jinja;

internal enum TokenKind
{
    Text,
    VariableBegin,
    VariableEnd,
    BlockBegin,
    BlockEnd,
    Name,
    String,
    Integer,
    Float,
    Operator,
    EndOfTemplate,
}

/// <summary>One lexical token. <see cref="Literal"/> holds the decoded value of string and number tokens.</summary>
internal sealed record Token(TokenKind Kind, string Text, SourcePosition Position, object? Literal = null)
{
    public bool IsOperator(string op) => Kind == TokenKind.Operator && Text == op;

    public bool IsName(string name) => Kind == TokenKind.Name && Text == name;

    /// <summary>How the token reads in an error message.</summary>
    public string Describe() => Kind switch
    {
        TokenKind.Text => "template text",
        TokenKind.VariableBegin => "'{{'",
        TokenKind.VariableEnd => "'}}'",
        TokenKind.BlockBegin => "'{%'",
        TokenKind.BlockEnd => "'%}'",
        TokenKind.Name => $"'{Text}'",
        TokenKind.String => "a string literal",
        TokenKind.Integer or TokenKind.Float => $"the number {Text}",
        TokenKind.Operator => $"'{Text}'",
        TokenKind.EndOfTemplate => "the end of the template",
        _ => Text,
    };
}
