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

    // Found by the join fuzzer: the loader stops at the end of the first DER value, and the rest was ignored.
    [Fact]
    public void SigningRequestWithBytesAfterIt_IsRefused()
    {
        var (key, csr) = NodeRequest();
        using var _ = key;

        var error = Assert.Throws<IdentityException>(() => _ca.SignNodeRequest([.. csr, 0x00, 0x30, 0x00], "node_1", TimeProvider.System));

        Assert.Contains("3 bytes follow it", error.Message);
    }

    // Found by SigningRequestFuzzTests: these threw NotSupportedException and PlatformNotSupportedException, which the
    // coordinator answered as gRPC's Unknown.
    [Theory]
    [InlineData("2A8648CE3D030107", "2A8648CE3D03015D")] // the P-256 curve's OID made one no platform knows
    [InlineData("2A8648CE3D040302", "2A8648CE3D045B02")] // ecdsa-with-SHA256 made an unknown signature algorithm
    public void SigningRequestNamingAnUnknownCurveOrAlgorithm_IsRefused(string oid, string unknown)
    {
        var (key, csr) = NodeRequest();
        using var _ = key;
        var hex = Convert.ToHexString(csr);
        Assert.Contains(oid, hex);

        var error = Assert.Throws<IdentityException>(() => _ca.SignNodeRequest(Convert.FromHexString(hex.Replace(oid, unknown)), "node_1", TimeProvider.System));

        Assert.StartsWith("The certificate signing request is invalid", error.Message);
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
