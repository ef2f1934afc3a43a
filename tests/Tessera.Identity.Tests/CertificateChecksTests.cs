using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Tessera.Identity;

namespace Tessera.Identity.Tests;

public sealed class CertificateChecksTests : IDisposable
{
    private readonly PoolCertificateAuthority _ca = PoolCertificateAuthority.Create("test", TimeProvider.System);
    private readonly PoolCertificateAuthority _otherCa = PoolCertificateAuthority.Create("other", TimeProvider.System);
    private static DateTimeOffset Now => DateTimeOffset.UtcNow;

    private static (ECDsa Key, byte[] Csr) NodeRequest()
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest("CN=ignored", key, HashAlgorithmName.SHA256).CreateSigningRequest();
        return (key, csr);
    }

    [Fact]
    public void ServerCertificate_PassesTheCoordinatorCheck()
    {
        using var server = _ca.IssueServerCertificate(["localhost"], [IPAddress.Loopback], TimeProvider.System);

        Assert.Null(CertificateChecks.CheckCoordinator(server, _ca.Certificate, Now));
        Assert.True(server.HasPrivateKey);
    }

    [Fact]
    public void ServerCertificateOfAnotherPool_IsRefused()
    {
        using var server = _otherCa.IssueServerCertificate(["localhost"], [], TimeProvider.System);

        Assert.Contains("not signed by this pool's CA", CertificateChecks.CheckCoordinator(server, _ca.Certificate, Now));
    }

    [Fact]
    public void NodeCertificate_CannotActAsTheCoordinator()
    {
        var (key, csr) = NodeRequest();
        using var _ = key;
        using var node = _ca.SignNodeRequest(csr, "node_1", TimeProvider.System);

        Assert.NotNull(CertificateChecks.CheckCoordinator(node, _ca.Certificate, Now));
    }

    [Fact]
    public void SignedNodeRequest_CarriesTheNodeIdAndTheAgentsKey()
    {
        var (key, csr) = NodeRequest();
        using var _ = key;

        using var node = _ca.SignNodeRequest(csr, "node_42", TimeProvider.System);
        var (nodeId, error) = CertificateChecks.CheckNode(node, _ca.Certificate, Now);

        Assert.Null(error);
        Assert.Equal("node_42", nodeId);
        Assert.Equal(key.ExportSubjectPublicKeyInfo(), node.GetECDsaPublicKey()!.ExportSubjectPublicKeyInfo());
    }

    [Fact]
    public void NodeCertificateOfAnotherPool_IsRefused()
    {
        var (key, csr) = NodeRequest();
        using var _ = key;
        using var node = _otherCa.SignNodeRequest(csr, "node_1", TimeProvider.System);

        var (nodeId, error) = CertificateChecks.CheckNode(node, _ca.Certificate, Now);

        Assert.Null(nodeId);
        Assert.Contains("not signed by this pool's CA", error);
    }

    [Fact]
    public void ServerCertificate_IsNotANodeCertificate()
    {
        using var server = _ca.IssueServerCertificate(["localhost"], [], TimeProvider.System);

        Assert.NotNull(CertificateChecks.CheckNode(server, _ca.Certificate, Now).Error);
    }

    [Fact]
    public void ExpiredNodeCertificate_IsRefused()
    {
        var (key, csr) = NodeRequest();
        using var _ = key;
        using var node = _ca.SignNodeRequest(csr, "node_1", TimeProvider.System);

        Assert.NotNull(CertificateChecks.CheckNode(node, _ca.Certificate, Now.AddYears(6)).Error);
    }

    [Fact]
    public void TamperedSigningRequest_IsRefused()
    {
        var (key, csr) = NodeRequest();
        using var _ = key;
        csr[^5] ^= 0xFF;

        Assert.Throws<IdentityException>(() => _ca.SignNodeRequest(csr, "node_1", TimeProvider.System));
    }

    [Fact]
    public void SavedAuthority_LoadsWithTheSameFingerprintAndStillSigns()
    {
        var dir = Directory.CreateTempSubdirectory("tessera-ca-");
        try
        {
            var cert = Path.Combine(dir.FullName, "ca.crt");
            var keyPath = Path.Combine(dir.FullName, "ca.key");
            _ca.Save(cert, keyPath);

            using var loaded = PoolCertificateAuthority.Load(cert, keyPath);
            using var server = loaded.IssueServerCertificate(["localhost"], [], TimeProvider.System);

            Assert.Equal(_ca.Fingerprint, loaded.Fingerprint);
            Assert.Null(CertificateChecks.CheckCoordinator(server, _ca.Certificate, Now));
            if (!OperatingSystem.IsWindows())
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyPath));
        }
        finally
        {
            dir.Delete(true);
        }
    }

    public void Dispose()
    {
        _ca.Dispose();
        _otherCa.Dispose();
    }
}
