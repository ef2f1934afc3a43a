using Tessera.Generation;

namespace Tessera.Deploy.Tests;

public sealed class CreateTests
{
    [Fact]
    public async Task Create_PlansStagesOnReadyNodes_SendsEachItsSlice_AndServesOnceEveryStageIsReady()
    {
        await using var pool = DeployHarness.Start();
        foreach (var name in new[] { "a", "b", "c" })
            pool.Agents.Join(name);

        var created = await pool.Controller.CreateAsync(new DeploymentRequest(DeployHarness.Model, "m", Context: 512, MaxSessions: 2, MinStages: 3), default);

        // planned: three stages covering the 8 layers in order, on three nodes, stored before anything runs
        Assert.Equal(DeploymentStates.Deploying, created.State);
        Assert.Equal(3, created.Stages.Count);
        Assert.Equal(0, created.Stages[0].FirstLayer);
        Assert.Equal(8, created.Stages[^1].LastLayer);
        Assert.All(created.Stages.Zip(created.Stages.Skip(1)), p => Assert.Equal(p.First.LastLayer, p.Second.FirstLayer));
        Assert.Equal(3, created.Stages.Select(s => s.NodeId).Distinct().Count());
        var stored = Assert.Single(pool.Store.List());
        Assert.Equal(created.Id, stored.Id);
        Assert.Throws<DeploymentUnavailableException>(() => pool.Controller.Router.FindModel("m"));

        // each agent is told to load its own slice (not the whole model), from the coordinator's store
        var starts = created.Stages.Select(s => Assert.Single(pool.Agents.Starts(s.NodeName))).ToList();
        Assert.Equal(3, starts.Select(s => s.ModelSha256).Distinct().Count());
        Assert.DoesNotContain(starts, s => s.ModelSha256 == created.ModelSha256);
        Assert.All(starts, s => Assert.Equal(["https://10.0.0.100:7470"], s.Sources));
        Assert.All(starts, s => Assert.True(pool.Controller.Content.Contains(Tessera.Distribution.ContentHash.Parse(s.ModelSha256))));

        // served once the agents report ready: a pipeline through their endpoints, in order
        await pool.UntilAsync(() => pool.Controller.Find("m")?.State == DeploymentStates.Ready, "ready");
        var pipeline = pool.Pipeline("m");
        Assert.Equal(pool.Controller.Find("m")!.Stages.Select(s => s.Endpoint), pipeline.Endpoints);
        Assert.Equal("m", pool.Controller.Router.FindModel("m")!.Id);
        Assert.Equal(DeploymentStates.Ready, pool.Events.Database.Scalar("SELECT state FROM deployments"));
    }

    [Fact]
    public async Task Create_TwoReplicas_GetDisjointNodes_AndTheRouterServesBoth()
    {
        await using var pool = DeployHarness.Start();
        foreach (var name in new[] { "a", "b", "c", "d" })
            pool.Agents.Join(name);

        var (view, _) = await pool.DeployAsync(stages: 2, replicas: 2);

        Assert.Equal(4, view.Stages.Select(s => s.NodeId).Distinct().Count());
        Assert.Equal(2, pool.Controller.Router.Replicas("m").Count);
    }

    [Fact]
    public async Task Create_WithAutoReplicas_TheCountThePlannerChoseIsStored_SoRepairsKeepIt()
    {
        await using var pool = DeployHarness.Start();
        foreach (var name in new[] { "a", "b", "c", "d" })
            pool.Agents.Join(name);

        var plan = await pool.Controller.PlanAsync(new DeploymentRequest(DeployHarness.Model, "m", Context: 512, MaxSessions: 2, AutoReplicas: true), 64, explain: true, default);
        var created = await pool.Controller.CreateAsync(new DeploymentRequest(DeployHarness.Model, "m", Context: 512, MaxSessions: 2, AutoReplicas: true), default);

        // Four equal nodes, each holding the model: one copy per node serves the most, each as fast as one alone.
        Assert.Equal(4, plan.Replicas);
        Assert.Equal(4, created.Stages.Select(s => s.Replica).Distinct().Count());
        Assert.Null(pool.Store.List()[0].Spec.AutoReplicas);
        Assert.Equal(4, pool.Store.List()[0].Spec.Replicas);
        Assert.Contains("replicas", plan.Explanation);
        Assert.True(plan.TimeToFirstTokenSeconds > plan.PrefillSeconds * 0.99 && plan.PrefillSeconds > 0);
        Assert.Equal(64, plan.PromptTokens);
        Assert.NotEmpty(plan.Alternatives);
    }

    public static TheoryData<DeploymentRequest, string> InvalidRequests() => new()
    {
        { new DeploymentRequest(null), "Give the model to deploy" },
        { new DeploymentRequest(DeployHarness.Model, Activations: "bf16"), "Unknown activation format 'bf16'" },
        { new DeploymentRequest(DeployHarness.Model, Replicas: 0), "must be at least 1" },
        { new DeploymentRequest(DeployHarness.Model, Name: "no spaces please"), "is not a deployment name" },
        { new DeploymentRequest("/no/such/file.gguf"), "No file /no/such/file.gguf" },
        { new DeploymentRequest(DeployHarness.Model, Replicas: 2, AutoReplicas: true), "either replicas" },
        { new DeploymentRequest(DeployHarness.Model, Placement: "a:0-8", AutoReplicas: true), "A placement gives the stages of one pipeline" },
    };

    [Theory]
    [MemberData(nameof(InvalidRequests))]
    public async Task Create_WithBadInput_IsInvalid_AndStoresAndSendsNothing(DeploymentRequest request, string message)
    {
        await using var pool = DeployHarness.Start();
        pool.Agents.Join("a");

        var error = await Assert.ThrowsAsync<DeploymentException>(() => pool.Controller.CreateAsync(request, default));

        Assert.Equal(DeploymentErrorKind.Invalid, error.Kind);
        Assert.Contains(message, error.Message);
        Assert.Empty(pool.Store.List());
        Assert.Empty(pool.Agents.Commands);
    }

    [Fact]
    public async Task Create_APartOfASplitModel_IsRefusedBeforeAnythingIsImported()
    {
        await using var pool = DeployHarness.Start();
        pool.Agents.Join("a");
        var folder = Directory.CreateTempSubdirectory("tessera-split-deploy-");
        try
        {
            var part = Path.Combine(folder.FullName, "big-Q8_0-00001-of-00003.gguf");
            File.Copy(DeployHarness.Model, part);

            var error = await Assert.ThrowsAsync<DeploymentException>(() => pool.Controller.CreateAsync(new DeploymentRequest(part, "x"), default));

            Assert.Equal(DeploymentErrorKind.Invalid, error.Kind);
            Assert.Contains("is a model split into 3 files (big-Q8_0-00001-of-00003.gguf, ...); deploy takes a model in one file", error.Message);
            Assert.Empty(pool.Store.List());
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Create_AFileThatIsNotAModel_IsInvalid_NamingTheFile()
    {
        await using var pool = DeployHarness.Start();
        pool.Agents.Join("a");
        var notAModel = Path.GetTempFileName();
        await File.WriteAllTextAsync(notAModel, "not a gguf");
        try
        {
            var error = await Assert.ThrowsAsync<DeploymentException>(() => pool.Controller.CreateAsync(new DeploymentRequest(notAModel, "x"), default));

            Assert.Equal(DeploymentErrorKind.Invalid, error.Kind);
            Assert.Contains("is not a model Tessera can run", error.Message);
            Assert.Empty(pool.Store.List());
        }
        finally
        {
            File.Delete(notAModel);
        }
    }

    [Fact]
    public async Task Create_ATakenName_IsAConflict()
    {
        await using var pool = DeployHarness.Start();
        pool.Agents.Join("a");
        await pool.DeployAsync(stages: 1);

        var error = await Assert.ThrowsAsync<DeploymentException>(() => pool.Controller.CreateAsync(new DeploymentRequest(DeployHarness.Model, "m"), default));

        Assert.Equal(DeploymentErrorKind.Conflict, error.Kind);
        Assert.Single(pool.Store.List());
    }

    [Fact]
    public async Task Create_OnAPoolWithoutReadyNodes_DoesNotFit()
    {
        await using var pool = DeployHarness.Start();
        pool.Agents.Join("a");
        pool.Agents.Lose("a");

        var error = await Assert.ThrowsAsync<DeploymentException>(() => pool.Controller.CreateAsync(new DeploymentRequest(DeployHarness.Model), default));

        Assert.Equal(DeploymentErrorKind.DoesNotFit, error.Kind);
        Assert.Contains("no ready node", error.Message);
    }

    [Fact]
    public async Task Create_MoreThanThePoolsMemory_DoesNotFit_SayingWhatIsMissing()
    {
        await using var pool = DeployHarness.Start();
        pool.Agents.Join("small", ramFreeBytes: 8L << 20);

        var error = await Assert.ThrowsAsync<DeploymentException>(() => pool.Controller.CreateAsync(new DeploymentRequest(DeployHarness.Model), default));

        Assert.Equal(DeploymentErrorKind.DoesNotFit, error.Kind);
        Assert.Empty(pool.Store.List());
    }

    [Fact]
    public async Task Delete_StopsEveryStage_ForgetsTheDeployment_AndItsNameAnswersUnknown()
    {
        await using var pool = DeployHarness.Start();
        foreach (var name in new[] { "a", "b" })
            pool.Agents.Join(name);
        var (_, pipeline) = await pool.DeployAsync(stages: 2);

        var removed = await pool.Controller.DeleteAsync("m");

        Assert.Equal(StageStates.Stopped, removed.State);
        Assert.Empty(pool.Store.List());
        Assert.True(pipeline.Disposed);
        Assert.Empty(pool.Agents.Running("a"));
        Assert.Empty(pool.Agents.Running("b"));
        Assert.Throws<UnknownModelException>(() => pool.Controller.Router.TokenizePrompt("m", "hi"));
        var missing = await Assert.ThrowsAsync<DeploymentException>(() => pool.Controller.DeleteAsync("m"));
        Assert.Equal(DeploymentErrorKind.NotFound, missing.Kind);
    }
}
