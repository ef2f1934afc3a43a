using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Tessera.Identity;

namespace Tessera.Training.Pool.Exchange;

/// <summary>
/// One end's credentials for mutual TLS in an exchange: its certificate (with key) and the pool CA every peer's
/// certificate must chain to. The coordinator holds the coordinator certificate; workers hold node certificates
/// (client and server authentication, so ring neighbours can accept each other).
/// </summary>
public sealed class ExchangeIdentity(X509Certificate2 certificate, X509Certificate2 authority) : IDisposable
{
    public X509Certificate2 Certificate { get; } = certificate;

    public X509Certificate2 Authority { get; } = authority;

    /// <summary>A throwaway CA and its certificates: the coordinator's (index 0) and one a worker (1..workers), written as PEM/PFX files under <paramref name="directory"/>.</summary>
    public static void CreateSet(string directory, int workers)
    {
        using var ca = PoolCertificateAuthority.Create("exchange", TimeProvider.System);
        File.WriteAllText(Path.Combine(directory, "ca.pem"), ca.Certificate.ExportCertificatePem());
        using (var coordinator = ca.IssueServerCertificate(["localhost"], [IPAddress.Loopback], TimeProvider.System))
            File.WriteAllBytes(PfxPath(directory, null), coordinator.Export(X509ContentType.Pkcs12));
        for (var i = 0; i < workers; i++)
        {
            using var worker = ca.IssueNodeCertificate($"worker-{i}", TimeProvider.System);
            File.WriteAllBytes(PfxPath(directory, i), worker.Export(X509ContentType.Pkcs12));
        }
    }

    /// <summary>Credentials written by <see cref="CreateSet"/>: the coordinator's (<paramref name="worker"/> null) or a worker's.</summary>
    public static ExchangeIdentity Load(string directory, int? worker) => new(
        X509CertificateLoader.LoadPkcs12FromFile(PfxPath(directory, worker), null),
        X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(directory, "ca.pem"))));

    /// <summary>In memory, for tests: the coordinator's identity and the workers'.</summary>
    public static (ExchangeIdentity Coordinator, ExchangeIdentity[] Workers) CreateInMemory(int workers)
    {
        using var ca = PoolCertificateAuthority.Create("exchange", TimeProvider.System);
        // Round-trip through PKCS#12 so the key is usable by SslStream on every platform (node certificates come so already).
        X509Certificate2 server;
        using (var issued = ca.IssueServerCertificate(["localhost"], [IPAddress.Loopback], TimeProvider.System))
            server = X509CertificateLoader.LoadPkcs12(issued.Export(X509ContentType.Pkcs12), null);
        var coordinator = new ExchangeIdentity(server, X509CertificateLoader.LoadCertificate(ca.Certificate.RawData));
        var list = Enumerable.Range(0, workers)
            .Select(i => new ExchangeIdentity(ca.IssueNodeCertificate($"worker-{i}", TimeProvider.System), X509CertificateLoader.LoadCertificate(ca.Certificate.RawData)))
            .ToArray();
        return (coordinator, list);
    }

    private static string PfxPath(string directory, int? worker) => Path.Combine(directory, worker is { } i ? $"worker-{i}.pfx" : "coordinator.pfx");

    /// <summary>As the accepting end: requires a node certificate of the pool from the peer.</summary>
    internal SslServerAuthenticationOptions ServerOptions() => new()
    {
        ServerCertificate = Certificate,
        ClientCertificateRequired = true,
        RemoteCertificateValidationCallback = (_, presented, _, _) =>
            presented is X509Certificate2 c && CertificateChecks.CheckNode(c, Authority, DateTimeOffset.UtcNow).Error is null,
    };

    /// <summary>As the connecting end: the peer must be the coordinator (a star) or a node of the pool (a ring neighbour).</summary>
    internal SslClientAuthenticationOptions ClientOptions(bool peerIsCoordinator) => new()
    {
        TargetHost = peerIsCoordinator ? PoolCertificateAuthority.CoordinatorCommonName : "worker",
        LocalCertificateSelectionCallback = (_, _, _, _, _) => Certificate,
        RemoteCertificateValidationCallback = (_, presented, _, _) => presented is X509Certificate2 c && (peerIsCoordinator
            ? CertificateChecks.CheckCoordinator(c, Authority, DateTimeOffset.UtcNow) is null
            : CertificateChecks.CheckNode(c, Authority, DateTimeOffset.UtcNow).Error is null),
    };

    public void Dispose()
    {
        Certificate.Dispose();
        Authority.Dispose();
    }
}
