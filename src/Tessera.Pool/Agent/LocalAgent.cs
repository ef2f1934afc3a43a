using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Tessera.Identity;
using Tessera.Pool.Coordinator;
using Tessera.Pool.Hardware;

namespace Tessera.Pool.Agent;

/// <summary>Helpers to run an agent: the standard options (real hardware) and the coordinator's own local agent.</summary>
public static class LocalAgent
{
    public static AgentOptions StandardOptions(string dataDirectory, string? name, Protocol.Hardware hardware, TimeProvider time)
    {
        // GPUs without an nvidia-smi index (a test's stand-in) are not sampled.
        var sampler = new MetricsSampler(dataDirectory, hardware.Gpus.Any(g => g.Index >= 0), time);
        return new AgentOptions
        {
            DataDirectory = dataDirectory,
            Name = name,
            Hardware = () => hardware,
            Metrics = sampler.Sample,
        };
    }

    /// <summary>
    /// The identity of the agent that runs beside the coordinator (<c>pool start</c>): admitted
    /// directly by the coordinator (no token), kept in the data directory's agent/ folder.
    /// </summary>
    public static NodeIdentity EnsureIdentity(CoordinatorHost host, string directory, string name, Protocol.Hardware hardware)
    {
        if (NodeIdentity.Exists(directory))
        {
            var existing = NodeIdentity.Load(directory);
            if (existing.File.CaSha256 != host.Info.CaSha256)
            {
                existing.Dispose();
                throw new PoolException($"{directory} holds an agent of another pool; move it away to let `pool start` create this pool's local agent.");
            }
            return existing;
        }
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256).CreateSigningRequest();
        var response = host.Context.AdmitNode(csr, name, hardware, "127.0.0.1", token: null);
        var address = new Uri(host.Info.ApiUrl).Authority;
        var file = new NodeIdentityFile(response.NodeId, response.Name, response.PoolId, address, host.Info.CaSha256, host.Context.Time.GetUtcNow());
        return NodeIdentity.Save(directory, file, key, response.CertificateDer.ToByteArray(), response.CaCertificateDer.ToByteArray());
    }
}
