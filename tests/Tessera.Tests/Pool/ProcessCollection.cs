namespace Tessera.Tests.Pool;

/// <summary>Process tests run one class at a time: they measure failure detection timing, which parallel load on a small machine would distort.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessCollection
{
    public const string Name = "Pool processes";
}
