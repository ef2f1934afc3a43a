namespace Tessera.Serving;

/// <summary>A pipeline could not run a session: a stage is unreachable, failed, or refused the session. The message says which and why.</summary>
public sealed class PipelineException(string message, Exception? inner = null) : Exception(message, inner);
