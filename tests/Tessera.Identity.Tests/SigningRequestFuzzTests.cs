using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Tessera.Testing;
using Xunit.Abstractions;

namespace Tessera.Identity.Tests;

/// <summary>
/// Mutated signing requests, as a joining machine may send them: signing each must give a node certificate for the
/// request's own key or fail with <see cref="IdentityException"/>, which the coordinator answers InvalidArgument; any
/// other exception would reach the joining machine as gRPC's Unknown. The request's own signature covers everything
/// but the outer framing and the signature itself, so almost every mutation must be refused. Bounded by
/// <see cref="FuzzBudget"/>; the seed is fixed.
/// </summary>
public sealed class SigningRequestFuzzTests(ITestOutputHelper output) : IDisposable
{
    public const int Seed = 15;

    private readonly PoolCertificateAuthority _ca = PoolCertificateAuthority.Create("fuzz", TimeProvider.System);

    public void Dispose() => _ca.Dispose();

    private static byte[] Request(AsymmetricAlgorithm key) => key switch
    {
        ECDsa ec => new CertificateRequest("CN=fuzz", ec, HashAlgorithmName.SHA256).CreateSigningRequest(),
        RSA rsa => new CertificateRequest("CN=fuzz", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequest(),
        _ => throw new ArgumentException("no request for " + key.GetType().Name),
    };

    [Fact]
    public void MutatedRequests_AreSignedForTheirOwnKey_OrRefusedWithIdentityException_NeverAnotherException()
    {
        using var p256 = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        using var rsa = RSA.Create(2048);
        byte[][] valid = [Request(p256), Request(p384), Request(rsa)];
        var run = FuzzBudget.FromEnvironment(iterations: 20_000, TimeSpan.FromSeconds(10), Seed).Start();
        var (signed, refused) = (0, 0);
        var reasons = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (index, rng) in run.Inputs())
        {
            var log = new List<string>();
            var der = valid[rng.Next(valid.Length)];
            for (var n = rng.Next(1, 4); n > 0; n--)
                der = JsonMutator.MutateBytes(rng, der, log);
            try
            {
                using var certificate = _ca.SignNodeRequest(der, "node_fuzz", TimeProvider.System);
                signed++;
                var key = certificate.PublicKey.EncodedKeyValue.RawData;
                if (!valid.Any(v => CertificateRequest.LoadSigningRequest(v, HashAlgorithmName.SHA256).PublicKey.EncodedKeyValue.RawData.AsSpan().SequenceEqual(key)))
                    run.Fail(index, $"[{string.Join("; ", log)}] signed a key that no valid request holds");
                if (CertificateChecks.CheckNode(certificate, _ca.Certificate, DateTimeOffset.UtcNow).NodeId != "node_fuzz")
                    run.Fail(index, $"[{string.Join("; ", log)}] signed a certificate the pool refuses");
            }
            catch (IdentityException e)
            {
                refused++;
                reasons.Add(e.Message.Length > 80 ? e.Message[..80] : e.Message);
            }
            catch (Exception e)
            {
                run.Fail(index, $"[{string.Join("; ", log)}] {e.GetType().Name}: {e.Message}; request {Convert.ToHexString(der)}");
            }
        }

        run.AssertNoFailures(output, $"signed {signed}, refused {refused} for {reasons.Count} reasons", minimum: 300);
        Assert.True(refused > run.Tried * 9 / 10, $"only {refused} of {run.Tried} mutated requests were refused");
        Assert.True(reasons.Count >= 5, "too few kinds of refusal: " + string.Join(" | ", reasons));
    }
}
