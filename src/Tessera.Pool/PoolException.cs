namespace Tessera.Pool;

/// <summary>An error with a message a user can act on. The CLI prints the message (never a stack trace) and exits with <see cref="ExitCode"/>.</summary>
public class PoolException : Exception
{
    public PoolException(string message, int exitCode = 1, Exception? inner = null)
        : base(message, inner)
    {
        ExitCode = exitCode;
    }

    public int ExitCode { get; }
}
