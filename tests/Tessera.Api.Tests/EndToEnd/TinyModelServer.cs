using System.Net;
using Tessera.Engine.Generation;
using Tessera.Testing;

namespace Tessera.Api.Tests.EndToEnd;

/// <summary>
/// tiny-a (Q8_0) served by <see cref="LocalGenerationService"/> behind a real Kestrel on 127.0.0.1, port 0,
/// shared by the end-to-end tests. tiny-a has no chat template: the service's ChatML fallback renders chats.
/// </summary>
public sealed class TinyModelServer : IAsyncLifetime
{
    public const string Key = "tsk_end-to-end";
    public const string ModelFile = "tiny-a-q8_0.gguf";
    public const string ModelId = "tiny-a";
    public const int ContextLength = 512;

    private LocalModel? _model;

    public LocalGenerationService Service { get; private set; } = null!;

    public OpenAiServer Server { get; private set; } = null!;

    public Uri V1 => new(Server.BaseAddress, "v1");

    public async Task InitializeAsync()
    {
        _model = LocalModel.Load(TestPaths.Model(ModelFile), threads: Math.Min(4, Environment.ProcessorCount), contextLength: ContextLength);
        Service = new LocalGenerationService(_model, ModelId, new LocalGenerationServiceOptions { MaxActiveSessions = 4, MaxQueuedSessions = 8, ContextLength = ContextLength });
        Server = await OpenAiServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), Service, ApiKeyValidators.Single(Key));
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        Service.Dispose();
        _model?.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class TinyModelCollection : ICollectionFixture<TinyModelServer>
{
    public const string Name = "tiny model server";
}
