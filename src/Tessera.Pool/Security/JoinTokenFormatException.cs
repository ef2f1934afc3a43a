namespace Tessera.Pool.Security;

/// <summary>The text given as a join token is not one.</summary>
public sealed class JoinTokenFormatException(string message) : PoolException(message, exitCode: 2);
