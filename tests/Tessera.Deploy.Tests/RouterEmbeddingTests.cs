using Tessera.Generation;

namespace Tessera.Deploy.Tests;

/// <summary>The coordinator's router sends /v1/embeddings to the deployment of the model's name, like generation.</summary>
public sealed class RouterEmbeddingTests
{
    [Fact]
    public async Task Embeddings_GoToTheDeployment_AndAnUnknownOrRemovedModelIsRefused()
    {
        await using var pool = DeployHarness.Start();
        foreach (var name in new[] { "a", "b" })
            pool.Agents.Join(name);
        await pool.DeployAsync(stages: 2);

        var result = await pool.Controller.Router.EmbedAsync("m", [[1, 2], [3]], new EmbeddingOptions(), default);

        Assert.Equal(2, result.Vectors.Count);
        Assert.Equal(3, result.PromptTokens);
        await Assert.ThrowsAsync<UnknownModelException>(() => pool.Controller.Router.EmbedAsync("other", [[1]], new EmbeddingOptions(), default));
        await pool.Controller.DeleteAsync("m");
        await Assert.ThrowsAsync<UnknownModelException>(() => pool.Controller.Router.EmbedAsync("m", [[1]], new EmbeddingOptions(), default));
    }
}
