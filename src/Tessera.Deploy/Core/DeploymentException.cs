namespace Tessera.Deploy;

/// <summary>What kind of mistake a deployment request has; the API answers each with its own status.</summary>
public enum DeploymentErrorKind
{
    /// <summary>The request is malformed or names a model Tessera cannot run (400).</summary>
    Invalid,

    /// <summary>No deployment has that name (404).</summary>
    NotFound,

    /// <summary>The name is taken (409).</summary>
    Conflict,

    /// <summary>The pool cannot hold the model (422).</summary>
    DoesNotFit,
}

/// <summary>A deployment request that cannot be carried out; the message says why and what to do.</summary>
public sealed class DeploymentException(DeploymentErrorKind kind, string message, Exception? inner = null) : Exception(message, inner)
{
    public DeploymentErrorKind Kind { get; } = kind;
}
