using Tessera.Distribution;

namespace Tessera.Deploy.Tests;

/// <summary>The coordinator's model store keeps what deployments use, and lets go of the rest under its size limit.</summary>
public sealed class ContentTests
{
    [Fact]
    public async Task UnderASizeLimit_TheSliceOfAReplacedStageIsEvicted_AndEveryFileOfTheCurrentPlanIsKept()
    {
        var model = new FileInfo(DeployHarness.Model).Length;
        // the model and its three slices (about the model's size again) fit; one more slice does not
        await using var pool = DeployHarness.Start(DeploymentControllerOptions.Default with { Improve = false, ContentLimitBytes = model * 2 + model / 5 });
        foreach (var name in new[] { "a", "b", "c", "spare" })
            pool.Agents.Join(name);
        var (view, _) = await pool.DeployAsync(stages: 3);
        var drained = view.Stages[1];
        var oldSlice = Assert.Single(pool.Agents.Starts(drained.NodeName)).ModelSha256;

        pool.Agents.Drain(drained.NodeName);
        await pool.UntilAsync(() => pool.EventsOf("node-drained").Count == 1, "the drain");

        var content = pool.Controller.Content;
        Assert.False(content.Contains(ContentHash.Parse(oldSlice)));
        var stored = Assert.Single(pool.Store.List());
        Assert.True(content.Contains(ContentHash.Parse(stored.ModelSha256)));
        Assert.All(stored.Stages, s => Assert.True(content.Contains(ContentHash.Parse(s.FileSha256)), $"stage {s.Index}'s file was evicted"));
        Assert.True(content.TotalBytes <= content.MaxBytes);
    }
}
