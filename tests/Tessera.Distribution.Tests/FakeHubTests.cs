using Tessera.Testing;

namespace Tessera.Distribution.Tests;

/// <summary>Tests against a local server that answers as Hugging Face does, with a folder of their own; both go with the test.</summary>
public abstract class FakeHubTests : IAsyncLifetime
{
    private protected TempDirectory Dir { get; } = new();

    private protected FakeHuggingFace Hub { get; private set; } = null!;

    public async Task InitializeAsync() => Hub = await FakeHuggingFace.StartAsync();

    public async Task DisposeAsync()
    {
        await Hub.DisposeAsync();
        Dir.Dispose();
    }
}
