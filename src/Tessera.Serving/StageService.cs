using Grpc.Core;
using Tessera.Serving.Protocol;

namespace Tessera.Serving;

/// <summary>The gRPC face of a <see cref="StageHost"/>.</summary>
internal sealed class StageService(StageHost host) : Stage.StageBase
{
    public override Task Run(IAsyncStreamReader<StageInput> requestStream, IServerStreamWriter<StageOutput> responseStream, ServerCallContext context) =>
        host.RunLaneAsync(requestStream, responseStream, context.CancellationToken);

    public override Task<StageStatus> Status(StatusRequest request, ServerCallContext context) => Task.FromResult(host.Status());
}
