using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Tessera.Identity;
using Tessera.Pool.Protocol;
using Tessera.Pool.Security;

namespace Tessera.Pool.Agent;

/// <summary>
/// Joins a pool with a token: downloads the pool CA and checks its SHA-256 against the token
/// (before any secret is sent), then, over TLS that trusts only that CA, sends the token secret
/// and a signing request for a key made here, and stores the node certificate it gets back.
/// </summary>
public static class JoinClient
{
    public static async Task<NodeIdentity> JoinAsync(JoinToken token, string directory, string name, Protocol.Hardware hardware, TimeProvider time, CancellationToken cancellationToken)
    {
        var caDer = await FetchCaAsync(token, cancellationToken).ConfigureAwait(false);
        using var ca = X509CertificateLoader.LoadCertificate(caDer);

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256).CreateSigningRequest();
        using var channel = CoordinatorChannel.Create(token.Address, ca, null, time);
        var client = new PoolAgent.PoolAgentClient(channel);
        JoinResponse response;
        try
        {
            response = await client.JoinAsync(new JoinRequest
            {
                TokenId = token.Id,
                TokenSecret = token.Secret,
                CsrDer = Google.Protobuf.ByteString.CopyFrom(csr),
                Name = name,
                Hardware = hardware,
            }, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException ex) when (ex.StatusCode is StatusCode.PermissionDenied or StatusCode.InvalidArgument or StatusCode.Unauthenticated)
        {
            throw new PoolException(ex.Status.Detail, exitCode: 3);
        }
        catch (RpcException ex)
        {
            throw Unreachable(token.Address, ex.Status.Detail, ex);
        }
        var file = new NodeIdentityFile(response.NodeId, response.Name, response.PoolId, token.Address, token.CaSha256, time.GetUtcNow());
        return NodeIdentity.Save(directory, file, key, response.CertificateDer.ToByteArray(), response.CaCertificateDer.ToByteArray());
    }

    private static async Task<byte[]> FetchCaAsync(JoinToken token, CancellationToken cancellationToken)
    {
        using var http = new HttpClient(CoordinatorChannel.UnverifiedHandler()) { Timeout = TimeSpan.FromSeconds(15) };
        string pem;
        try
        {
            pem = await http.GetStringAsync($"https://{token.Address}/api/ca", cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            throw Unreachable(token.Address, ex.InnerException?.Message ?? ex.Message, ex);
        }
        catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw Unreachable(token.Address, "timed out", ex);
        }
        byte[] der;
        try
        {
            using var ca = X509Certificate2.CreateFromPem(pem);
            der = ca.RawData;
        }
        catch (CryptographicException ex)
        {
            throw new PoolException($"The server at {token.Address} is not a Tessera coordinator (it sent no pool CA). Check the address in the token.", exitCode: 3, inner: ex);
        }
        var fingerprint = Convert.ToHexStringLower(SHA256.HashData(der));
        if (!CryptographicOperations.FixedTimeEquals(System.Text.Encoding.ASCII.GetBytes(fingerprint), System.Text.Encoding.ASCII.GetBytes(token.CaSha256)))
        {
            throw new PoolException(
                $"Join refused: the coordinator at {token.Address} presented a pool CA with fingerprint {fingerprint[..16]}..., but the token expects {token.CaSha256[..16]}.... " +
                "The token is forged or belongs to another pool, or another machine answers at that address. Nothing was sent. Get a token from the pool's own `tessera token create`.",
                exitCode: 3);
        }
        return der;
    }

    private static PoolException Unreachable(string address, string detail, Exception inner)
    {
        var hint = inner.InnerException is SocketException || inner is HttpRequestException
            ? " Check that `tessera pool start` is running there, that the address in the token is reachable from this machine, and that no firewall blocks the port."
            : string.Empty;
        return new PoolException($"Cannot reach the coordinator at {address}: {detail}.{hint}", exitCode: 4, inner: inner);
    }
}
