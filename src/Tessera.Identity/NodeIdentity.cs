using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;

namespace Tessera.Identity;

/// <summary>
/// What an agent keeps after joining, in its data directory: agent.json (node id, pool, coordinator
/// address, CA fingerprint), node.key (its private key, owner-only), node.crt and ca.crt. With it
/// the agent reconnects without the token.
/// </summary>
public sealed class NodeIdentity : IDisposable
{
    private NodeIdentity(NodeIdentityFile file, X509Certificate2 certificate, X509Certificate2 ca)
    {
        File = file;
        Certificate = certificate;
        CaCertificate = ca;
    }

    public NodeIdentityFile File { get; }

    /// <summary>The node certificate with its private key, presented for mutual TLS.</summary>
    public X509Certificate2 Certificate { get; }

    public X509Certificate2 CaCertificate { get; }

    public string NodeId => File.NodeId;

    public static string JsonPath(string directory) => Path.Combine(directory, "agent.json");

    public static bool Exists(string directory) => System.IO.File.Exists(JsonPath(directory));

    public static NodeIdentity Load(string directory)
    {
        var file = JsonSerializer.Deserialize<NodeIdentityFile>(System.IO.File.ReadAllText(JsonPath(directory)), JsonSerializerOptions.Web)
            ?? throw new IdentityException($"{JsonPath(directory)} is empty or damaged; join again with a new token and a fresh --data-dir.");
        try
        {
            var certificate = X509Certificate2.CreateFromPemFile(Path.Combine(directory, "node.crt"), Path.Combine(directory, "node.key"));
            using var ca = X509Certificate2.CreateFromPem(System.IO.File.ReadAllText(Path.Combine(directory, "ca.crt")));
            return new NodeIdentity(file, certificate, X509CertificateLoader.LoadCertificate(ca.RawData));
        }
        catch (Exception ex) when (ex is CryptographicException or IOException)
        {
            throw new IdentityException($"The agent's certificate files in {directory} cannot be read ({ex.Message}); join again with a new token and a fresh --data-dir.", inner: ex);
        }
    }

    public static NodeIdentity Save(string directory, NodeIdentityFile file, ECDsa key, byte[] certificateDer, byte[] caDer)
    {
        Directory.CreateDirectory(directory);
        using var certificate = X509CertificateLoader.LoadCertificate(certificateDer);
        using var ca = X509CertificateLoader.LoadCertificate(caDer);
        PrivateFile.WriteAllText(Path.Combine(directory, "node.key"), key.ExportPkcs8PrivateKeyPem());
        System.IO.File.WriteAllText(Path.Combine(directory, "node.crt"), certificate.ExportCertificatePem());
        System.IO.File.WriteAllText(Path.Combine(directory, "ca.crt"), ca.ExportCertificatePem());
        System.IO.File.WriteAllText(JsonPath(directory), JsonSerializer.Serialize(file, new JsonSerializerOptions(JsonSerializerOptions.Web) { WriteIndented = true }));
        return Load(directory);
    }

    /// <summary>Moves the identity aside after the node was removed from the pool.</summary>
    public static void Retire(string directory)
    {
        var json = JsonPath(directory);
        if (System.IO.File.Exists(json))
            System.IO.File.Move(json, json + ".left", overwrite: true);
    }

    public void Dispose()
    {
        Certificate.Dispose();
        CaCertificate.Dispose();
    }
}

public sealed record NodeIdentityFile(string NodeId, string Name, string PoolId, string Coordinator, string CaSha256, DateTimeOffset JoinedAt);
