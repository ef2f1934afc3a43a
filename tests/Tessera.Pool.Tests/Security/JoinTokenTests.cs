using System.Buffers.Text;
using System.Text;
using Tessera.Identity;
using Tessera.Pool.Security;

namespace Tessera.Pool.Tests.Security;

public sealed class JoinTokenTests
{
    private static readonly JoinToken Sample = new("192.168.1.10:7470", new string('a', 64), "tok_0123456789ab", Secrets.NewSecret());

    [Fact]
    public void Encode_ThenParse_GivesTheSameToken()
    {
        var text = Sample.Encode();

        Assert.StartsWith("tsr1_", text);
        Assert.Equal(Sample, JoinToken.Parse(text));
    }

    [Fact]
    public void Parse_ToleratesSurroundingWhitespace()
    {
        Assert.Equal(Sample, JoinToken.Parse("  " + Sample.Encode() + "\n"));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("tsr2_abc", "does not start with 'tsr1_'")]
    [InlineData("tsr1_***", "not valid base64url")]
    public void Parse_MalformedText_SaysWhatIsWrong(string text, string expected)
    {
        var error = Assert.Throws<JoinTokenFormatException>(() => JoinToken.Parse(text));

        Assert.Contains(expected, error.Message);
        Assert.Contains("tessera token create", error.Message);
    }

    [Fact]
    public void Parse_TruncatedToken_IsMalformed()
    {
        var text = Sample.Encode();

        var error = Assert.Throws<JoinTokenFormatException>(() => JoinToken.Parse(text[..(text.Length / 2)]));

        Assert.Contains("malformed", error.Message);
    }

    [Fact]
    public void Parse_JsonWithoutSecret_IsMalformed()
    {
        var text = "tsr1_" + Base64Url.EncodeToString(Encoding.UTF8.GetBytes($$"""{"addr":"a:1","caSha256":"{{new string('b', 64)}}","id":"tok_1"}"""));

        var error = Assert.Throws<JoinTokenFormatException>(() => JoinToken.Parse(text));

        Assert.Contains("missing", error.Message);
    }

    [Fact]
    public void Parse_BadFingerprint_IsMalformed()
    {
        var text = (Sample with { CaSha256 = "xyz" }).Encode();

        var error = Assert.Throws<JoinTokenFormatException>(() => JoinToken.Parse(text));

        Assert.Contains("fingerprint", error.Message);
    }
}
