using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tessera.Identity;

/// <summary>
/// The checks both ends make on certificates: a coordinator certificate must chain to the pinned
/// pool CA and be the coordinator's (server auth, CN tessera-coordinator), so a node certificate
/// from the same CA cannot impersonate the coordinator; a node certificate must chain to the
/// pool CA and be for client auth. Host names are not checked: the pool CA is the only trust anchor.
/// </summary>
public static class CertificateChecks
{
    private const string ServerAuthOid = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuthOid = "1.3.6.1.5.5.7.3.2";

    public static string Fingerprint(X509Certificate2 certificate) =>
        Convert.ToHexStringLower(SHA256.HashData(certificate.RawData));

    /// <summary>A TLS client's server check that accepts only a coordinator certificate issued by <paramref name="ca"/> and valid now.</summary>
    public static System.Net.Security.RemoteCertificateValidationCallback CoordinatorValidation(X509Certificate2 ca, TimeProvider time) =>
        (_, certificate, _, _) => certificate is not null && CheckCoordinator(
            certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()), ca, time.GetUtcNow()) is null;

    /// <summary>Null when <paramref name="presented"/> is a valid coordinator certificate of the pool whose CA is <paramref name="ca"/>; otherwise why not.</summary>
    public static string? CheckCoordinator(X509Certificate2 presented, X509Certificate2 ca, DateTimeOffset now)
    {
        var chainError = CheckChain(presented, ca, now);
        if (chainError is not null)
            return chainError;
        if (!HasUsage(presented, ServerAuthOid))
            return "the certificate is not a server certificate of the pool";
        if (presented.GetNameInfo(X509NameType.SimpleName, false) != PoolCertificateAuthority.CoordinatorCommonName)
            return "the certificate is not the coordinator's (a node certificate cannot act as the coordinator)";
        return null;
    }

    /// <summary>The node id of a valid node certificate, or an error.</summary>
    public static (string? NodeId, string? Error) CheckNode(X509Certificate2 presented, X509Certificate2 ca, DateTimeOffset now)
    {
        var chainError = CheckChain(presented, ca, now);
        if (chainError is not null)
            return (null, chainError);
        if (!HasUsage(presented, ClientAuthOid))
            return (null, "the certificate is not a node certificate of the pool");
        var nodeId = presented.GetNameInfo(X509NameType.SimpleName, false);
        if (string.IsNullOrEmpty(nodeId) || nodeId == PoolCertificateAuthority.CoordinatorCommonName)
            return (null, "the certificate names no node");
        return (nodeId, null);
    }

    private static string? CheckChain(X509Certificate2 presented, X509Certificate2 ca, DateTimeOffset now)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = now.UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        if (!chain.Build(presented))
        {
            var status = string.Join(", ", chain.ChainStatus.Select(s => s.Status.ToString()).Distinct());
            return $"the certificate is not signed by this pool's CA ({status})";
        }
        var root = chain.ChainElements[^1].Certificate;
        if (!root.RawData.AsSpan().SequenceEqual(ca.RawData))
            return "the certificate is not signed by this pool's CA";
        return null;
    }

    private static bool HasUsage(X509Certificate2 certificate, string oid)
    {
        foreach (var extension in certificate.Extensions)
        {
            if (extension is X509EnhancedKeyUsageExtension eku)
            {
                foreach (var usage in eku.EnhancedKeyUsages)
                {
                    if (usage.Value == oid)
                        return true;
                }
                return false;
            }
        }
        return false;
    }
}
