namespace Tessera.Jinja;

/// <summary>A 1-based line and column in template source.</summary>
internal readonly record struct SourcePosition(int Line, int Column)
{
    public override string ToString() => $"line {Line}, column {Column}";
}
