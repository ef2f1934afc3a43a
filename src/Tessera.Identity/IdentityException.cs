namespace Tessera.Identity;

/// <summary>A node's identity files are missing or damaged; the message says what to do (usually: join again).</summary>
public sealed class IdentityException(string message, Exception? inner = null) : Exception(message, inner);
