namespace Tessera.Engine.Backends;

/// <summary>
/// Shape of one causal attention call for one sequence: <see cref="Tokens"/> new queries at positions
/// <c>[StartPosition, StartPosition + Tokens)</c> over keys/values of all positions up to each query.
/// </summary>
public readonly record struct AttentionShape(int Tokens, int StartPosition, int Heads, int KvHeads, int HeadDim, float Scale)
{
    public int QueryWidth => Heads * HeadDim;
    public int KvWidth => KvHeads * HeadDim;
}
