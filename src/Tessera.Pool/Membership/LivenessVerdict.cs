namespace Tessera.Pool.Membership;

/// <summary>What the failure detector concludes about a node at one instant.</summary>
public enum LivenessVerdict
{
    Alive,
    Suspect,
    Down,
}
