namespace Tessera.Deploy.Tests;

public sealed class RestartTests
{
    [Fact]
    public async Task ACoordinatorRestart_RestoresTheDeployment_AndReattachesToTheRunningStages_WithoutReloadingThem()
    {
        await using var pool = DeployHarness.Start();
        foreach (var name in new[] { "a", "b", "c" })
            pool.Agents.Join(name);
        var (view, _) = await pool.DeployAsync(stages: 3);
        var running = view.Stages.ToDictionary(s => s.NodeName, s => pool.Agents.Running(s.NodeName));

        await pool.RestartAsync();

        // known at once (503 while reconnecting, not 404), then served on the same stages
        Assert.Throws<DeploymentUnavailableException>(() => pool.Controller.Router.FindModel("m"));
        Assert.Equal(DeploymentStates.Deploying, pool.Controller.Find("m")!.State);
        await pool.UntilAsync(() => pool.Controller.Find("m")?.State == DeploymentStates.Ready, "reattached");
        var after = pool.Controller.Find("m")!;
        Assert.Equal(view.Stages.Select(s => s.Endpoint), after.Stages.Select(s => s.Endpoint));
        Assert.Equal(view.Stages.Select(s => s.Endpoint), pool.Pipeline("m").Endpoints);
        foreach (var (node, stages) in running)
            Assert.Equal(stages, pool.Agents.Running(node));
        Assert.Contains("reattached to its 3 running stages, which kept their loaded weights", Assert.Single(pool.EventsOf("deployment-reattached")));
    }

    [Fact]
    public async Task ACoordinatorRestart_WhileAnAgentLostItsStages_ReloadsOnlyThose_AndSaysSo()
    {
        await using var pool = DeployHarness.Start();
        foreach (var name in new[] { "a", "b" })
            pool.Agents.Join(name);
        var (view, _) = await pool.DeployAsync(stages: 2);

        pool.Agents.Lose(view.Stages[1].NodeName);
        await pool.RestartAsync();
        pool.Agents.Return(view.Stages[1].NodeName);

        await pool.UntilAsync(() => pool.Controller.Find("m")?.State == DeploymentStates.Ready, "reconnected");
        Assert.Contains("1 of 2 stages had to load their weights again", Assert.Single(pool.EventsOf("deployment-reattached")));
    }
}
