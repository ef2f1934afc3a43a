namespace Tessera.Generation;

/// <summary>A session would exceed its context length.</summary>
public sealed class ContextFullException : Exception
{
    public ContextFullException(int needed, int contextLength)
        : base($"The session needs {needed} positions but the context holds {contextLength}; shorten the prompt or raise the context length.")
    {
        Needed = needed;
        ContextLength = contextLength;
    }

    public int Needed { get; }

    public int ContextLength { get; }
}
