namespace Tessera.Engine.Gguf;

/// <summary>
/// A metadata array: <see cref="Values"/> is a typed .NET array (string[], float[], int[], GgufArray[] for
/// nested arrays, ...) matching <see cref="ElementType"/>.
/// </summary>
public sealed class GgufArray
{
    public GgufArray(GgufValueType elementType, Array values)
    {
        ElementType = elementType;
        Values = values;
    }

    public GgufValueType ElementType { get; }

    public Array Values { get; }

    public int Length => Values.Length;

    public override string ToString() => $"[{ElementType} x {Values.Length}]";
}
