namespace Tessera.Engine.Gguf;

/// <summary>A GGUF file that cannot be used: names the file, the byte offset and what is wrong.</summary>
public sealed class GgufFormatException : Exception
{
    public GgufFormatException(string path, long offset, string problem)
        : base($"{path}: at byte {offset}: {problem}")
    {
        FilePath = path;
        Offset = offset;
        Problem = problem;
    }

    public GgufFormatException(string path, string problem)
        : base($"{path}: {problem}")
    {
        FilePath = path;
        Offset = -1;
        Problem = problem;
    }

    public string FilePath { get; }

    /// <summary>Byte offset of the problem in the file, or -1 when it is not about one place.</summary>
    public long Offset { get; }

    public string Problem { get; }
}
