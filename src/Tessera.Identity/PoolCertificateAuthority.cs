using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tessera.Identity;

/// <summary>
/// The pool's certificate authority: an ECDSA P-256 key and a self-signed CA certificate created by
/// <c>tessera pool start</c>. It issues the coordinator's server certificate and, from agents'
/// signing requests, node certificates (subject CN = node id) used for mutual TLS.
/// </summary>
public sealed class PoolCertificateAuthority : IDisposable
{
    public const string CoordinatorCommonName = "tessera-coordinator";
    private const string ServerAuthOid = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuthOid = "1.3.6.1.5.5.7.3.2";

    private readonly ECDsa _key;

    private PoolCertificateAuthority(X509Certificate2 certificate, ECDsa key)
    {
        Certificate = certificate;
        _key = key;
    }

    /// <summary>The CA certificate (public part only).</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>SHA-256 of the CA certificate's DER bytes, lower-case hex: what join tokens pin.</summary>
    public string Fingerprint => CertificateChecks.Fingerprint(Certificate);

    public static PoolCertificateAuthority Create(string poolId, TimeProvider time)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=Tessera pool CA {poolId}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = time.GetUtcNow();
        using var withKey = request.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(20));
        var publicOnly = X509CertificateLoader.LoadCertificate(withKey.RawData);
        return new PoolCertificateAuthority(publicOnly, key);
    }

    /// <summary>Loads a CA from PEM files written by <see cref="Save"/>.</summary>
    public static PoolCertificateAuthority Load(string certificatePemPath, string keyPemPath)
    {
        using var certificate = X509Certificate2.CreateFromPem(File.ReadAllText(certificatePemPath));
        var key = ECDsa.Create();
        key.ImportFromPem(File.ReadAllText(keyPemPath));
        return new PoolCertificateAuthority(X509CertificateLoader.LoadCertificate(certificate.RawData), key);
    }

    /// <summary>
    /// A 32-byte secret for <paramref name="purpose"/> (e.g. a deployment's route key), derived from the CA's private
    /// key: the same for the life of the pool, across coordinator restarts, and new when the CA is replaced.
    /// </summary>
    public byte[] DeriveSecret(string purpose)
    {
        var seed = SHA256.HashData(_key.ExportPkcs8PrivateKey());
        try
        {
            return HMACSHA256.HashData(seed, System.Text.Encoding.UTF8.GetBytes("tessera/" + purpose));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
        }
    }

    public void Save(string certificatePemPath, string keyPemPath)
    {
        File.WriteAllText(certificatePemPath, Certificate.ExportCertificatePem());
        PrivateFile.WriteAllText(keyPemPath, _key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>Issues the coordinator's TLS server certificate, with a private key, for the given names and addresses.</summary>
    public X509Certificate2 IssueServerCertificate(IEnumerable<string> dnsNames, IEnumerable<IPAddress> addresses, TimeProvider time)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={CoordinatorCommonName}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(ServerAuthOid)], false));
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in dnsNames.Distinct(StringComparer.OrdinalIgnoreCase))
            san.AddDnsName(name);
        foreach (var address in addresses.Distinct())
            san.AddIpAddress(address);
        request.CertificateExtensions.Add(san.Build());
        var now = time.GetUtcNow();
        using var certificate = Sign(request, now.AddMinutes(-5), now.AddYears(2));
        return certificate.CopyWithPrivateKey(key);
    }

    /// <summary>
    /// Verifies an agent's PKCS#10 signing request and issues a node certificate (CN = node id,
    /// client authentication, and server authentication for the stages it hosts) for the key in it. The agent's private key never leaves the agent.
    /// </summary>
    public X509Certificate2 SignNodeRequest(ReadOnlySpan<byte> csrDer, string nodeId, TimeProvider time)
    {
        CertificateRequest csr;
        int read;
        try
        {
            csr = CertificateRequest.LoadSigningRequest(csrDer, HashAlgorithmName.SHA256, out read, CertificateRequestLoadOptions.Default);
        }
        catch (Exception ex) when (ex is CryptographicException or NotSupportedException)
        {
            // NotSupportedException (and its PlatformNotSupportedException): a signature algorithm or a curve the
            // loader does not know, which a client's request names as easily as a known one.
            throw new IdentityException("The certificate signing request is invalid: " + ex.Message, inner: ex);
        }
        // The loader stops at the end of the first DER value and ignores the rest: bytes nothing verified, which a
        // request that is exactly one CSR never has.
        if (read != csrDer.Length)
            throw new IdentityException($"The certificate signing request is invalid: {csrDer.Length - read} bytes follow it; send the DER request alone.");
        if (csr.PublicKey.Oid.Value != "1.2.840.10045.2.1")
            throw new IdentityException("The certificate signing request must be for an ECDSA key.");
        var request = new CertificateRequest(new X500DistinguishedName($"CN={nodeId}"), csr.PublicKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(ClientAuthOid), new Oid(ServerAuthOid)], false));
        var now = time.GetUtcNow();
        return Sign(request, now.AddMinutes(-5), now.AddYears(5));
    }

    /// <summary>
    /// A node certificate for a key made here, with that key, for a party whose key may live beside the CA (the
    /// coordinator driving stages, workers a training run starts, tests). Through PKCS#12 so SslStream can use the key on
    /// every platform.
    /// </summary>
    public X509Certificate2 IssueNodeCertificate(string nodeId, TimeProvider time)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest($"CN={nodeId}", key, HashAlgorithmName.SHA256).CreateSigningRequest();
        using var issued = SignNodeRequest(csr, nodeId, time);
        using var withKey = issued.CopyWithPrivateKey(key);
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    private X509Certificate2 Sign(CertificateRequest request, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Certificate, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        var generator = X509SignatureGenerator.CreateForECDsa(_key);
        return request.Create(Certificate.SubjectName, generator, notBefore, notAfter, serial);
    }

    public void Dispose()
    {
        _key.Dispose();
        Certificate.Dispose();
    }
}
