using System.Buffers.Text;
using System.Text;
using Tessera.Identity;
using Tessera.Pool.Security;
using Tessera.Testing;
using Xunit.Abstractions;

namespace Tessera.Pool.Tests.Security;

/// <summary>
/// Mutated join tokens, as a person might paste them or an attacker craft them: each must parse into a complete
/// token or fail with <see cref="JoinTokenFormatException"/>, which `tessera join` prints as a message; any other
/// exception would be a crash with a stack trace. Bounded by <see cref="FuzzBudget"/>; the seed is fixed.
/// </summary>
public sealed class JoinTokenFuzzTests(ITestOutputHelper output)
{
    public const int Seed = 15;

    private static readonly string Ca = new('a', 64);

    private static readonly string[] Payloads =
    [
        new JoinToken("192.168.1.10:7470", Ca, "tok_0123456789ab", Secrets.NewSecret()).Encode(),
        new JoinToken("[fe80::1]:7470", Ca.ToUpperInvariant(), "tok_x", "s").Encode(),
        new JoinToken("coordinator.example.org:443", new string('0', 64), "tok_" + new string('9', 40), new string('z', 200)).Encode(),
    ];

    private static readonly JsonMutator Mutator = new(
        ["addr", "caSha256", "id", "secret", "ca_sha256", "Addr", "ID"],
        ["\"" + new string('A', 64) + "\"", "\"" + new string('g', 64) + "\"", "\"" + new string('a', 63) + "\"", "\"" + new string('a', 65) + "\"",
         "\"" + string.Concat(Enumerable.Repeat("\\u0061", 64)) + "\"", "\"127.0.0.1:7470\"", "\"tok_x\"", "\"   \""]);

    /// <summary>Characters a copy and paste, a terminal or an attacker adds: base64 of the other alphabet, padding, whitespace, non-ASCII.</summary>
    private static readonly string[] Insertions = ["-", "_", "+", "/", "=", "==", " ", "\n", "\r\n", "\t", "\0", "é", "\ud800", "\udc00", "😀", "A", "0", ".", "tsr1_"];

    [Fact]
    public void MutatedTokens_ParseIntoCompleteTokens_OrFailWithAFormatMessage_NeverAnotherException()
    {
        var run = FuzzBudget.FromEnvironment(iterations: 20_000, TimeSpan.FromSeconds(10), Seed).Start();
        var (parsed, refused) = (0, 0);
        var reasons = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (index, rng) in run.Inputs())
        {
            var log = new List<string>();
            var text = Mutate(rng, log);
            try
            {
                var token = JoinToken.Parse(text);
                parsed++;
                if (Problem(token) is { } problem)
                    run.Fail(index, $"[{string.Join("; ", log)}] parsed into a token that {problem}");
            }
            catch (JoinTokenFormatException e)
            {
                refused++;
                reasons.Add(e.Message.Split(". ")[0]);
                if (!e.Message.Contains("tessera token create", StringComparison.Ordinal))
                    run.Fail(index, $"[{string.Join("; ", log)}] refused without the hint: {e.Message}");
            }
            catch (Exception e)
            {
                run.Fail(index, $"[{string.Join("; ", log)}] {e.GetType().Name}: {e.Message}; token {Preview(text)}");
            }
        }

        run.AssertNoFailures(output, $"parsed {parsed}, refused {refused} for {reasons.Count} reasons: {string.Join(" | ", reasons.Order(StringComparer.Ordinal))}", minimum: 1_000);
        Assert.True(parsed > run.Tried / 20 && refused > run.Tried / 2, $"parsed {parsed}, refused {refused} of {run.Tried}: the mutations miss one outcome");
        Assert.True(reasons.Count >= 5, "too few kinds of refusal: " + string.Join(" | ", reasons));
    }

    /// <summary>What `tessera join` relies on in a parsed token.</summary>
    private static string? Problem(JoinToken token)
    {
        if (string.IsNullOrWhiteSpace(token.Address) || string.IsNullOrWhiteSpace(token.Id) || string.IsNullOrWhiteSpace(token.Secret))
            return "lacks an address, id or secret";
        if (token.CaSha256.Length != 64 || !token.CaSha256.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f'))
            return $"has the CA fingerprint '{token.CaSha256}'";
        return JoinToken.Parse(token.Encode()) == token ? null : "does not survive encoding";
    }

    private static string Mutate(Random rng, List<string> log)
    {
        var valid = Payloads[rng.Next(Payloads.Length)];
        switch (rng.Next(10))
        {
            case < 5:
            {
                // A forged token: valid base64url around a mutated payload.
                var json = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(valid.AsSpan(JoinToken.Prefix.Length)));
                return JoinToken.Prefix + Base64Url.EncodeToString(Mutator.Mutate(rng, json, log));
            }
            case 5:
            {
                var bytes = new byte[rng.Next(0, 300)];
                rng.NextBytes(bytes);
                log.Add($"{bytes.Length} random bytes, base64url");
                return JoinToken.Prefix + Base64Url.EncodeToString(bytes);
            }
            default:
            {
                // A damaged copy: characters changed, added or lost, the prefix altered.
                var text = new StringBuilder(valid);
                for (var n = rng.Next(1, 4); n > 0; n--)
                {
                    var at = rng.Next(text.Length + 1);
                    switch (rng.Next(6))
                    {
                        case 0 when at < text.Length:
                            text[at] = (char)(text[at] ^ (1 << rng.Next(7)));
                            log.Add($"flip @{at}");
                            break;
                        case 1:
                            var insertion = Insertions[rng.Next(Insertions.Length)];
                            text.Insert(at, insertion);
                            log.Add($"insert {Preview(insertion)} @{at}");
                            break;
                        case 2 when at < text.Length:
                            var count = Math.Min(rng.Next(1, 9), text.Length - at);
                            text.Remove(at, count);
                            log.Add($"delete {count} @{at}");
                            break;
                        case 3:
                            text.Length = at;
                            log.Add($"cut @{at}");
                            break;
                        case 4:
                            text.Remove(0, Math.Min(text.Length, rng.Next(1, 6)));
                            text.Insert(0, rng.Next(3) switch { 0 => "TSR1_", 1 => "tsr2_", _ => "" });
                            log.Add("prefix changed");
                            break;
                        default:
                            text.Insert(0, new string(' ', rng.Next(3))).Append(rng.Next(2) == 0 ? "\n" : "\u00a0");
                            log.Add("padded");
                            break;
                    }
                }
                return text.ToString();
            }
        }
    }

    private static string Preview(string text) => text.Length <= 80 ? text.Replace("\n", "\\n") : text[..80] + $"...({text.Length} chars)";
}
