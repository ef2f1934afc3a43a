using Grpc.Core;
using Tessera.Identity;
using Tessera.Serving.Protocol;

namespace Tessera.Serving;

/// <summary>The gRPC face of a <see cref="StageHost"/>.</summary>
internal sealed class StageService(StageHost host) : Stage.StageBase
{
    public override Task Run(IAsyncStreamReader<StageInput> requestStream, IServerStreamWriter<StageOutput> responseStream, ServerCallContext context)
    {
        // The TLS layer checked the certificate when the connection opened; the host checks it again per lane (it may
        // have been revoked since, on a connection that stays open).
        var connection = context.GetHttpContext().Connection;
        var certificate = connection.ClientCertificate;
        return host.RunLaneAsync(requestStream, responseStream, context.CancellationToken,
            certificate is null ? null : CertificateChecks.Fingerprint(certificate), connection.LocalIpAddress?.ToString());
    }

    public override Task<StageStatus> Status(StatusRequest request, ServerCallContext context) => Task.FromResult(host.Status());
}
