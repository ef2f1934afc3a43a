namespace Tessera.Engine.Kernels;

/// <summary>
/// One parallel loop body for <see cref="WorkerPool.For{TJob}(int, in TJob)"/>. Implement it on a struct that holds
/// raw pointers (never spans: the struct is read by other threads through its address).
/// </summary>
public interface IParallelJob
{
    /// <summary>Runs work item <paramref name="index"/>; called exactly once per index, from any pool thread.</summary>
    void Execute(int index);
}
