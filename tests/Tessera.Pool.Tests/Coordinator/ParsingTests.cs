using Tessera.Pool.Coordinator;
using Tessera.Pool.Security;

namespace Tessera.Pool.Tests.Coordinator;

public sealed class ParsingTests
{
    [Theory]
    [InlineData("90s", 90)]
    [InlineData("30m", 1800)]
    [InlineData("24h", 86400)]
    [InlineData("7d", 604800)]
    [InlineData("1.5h", 5400)]
    public void Duration_WithAUnit_IsParsed(string text, int seconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(seconds), DurationParser.Parse(text));
    }

    [Theory]
    [InlineData("40ms", 40)]
    [InlineData("2.5MS", 2.5)]
    public void Duration_InMilliseconds_IsParsed_NotTakenForMinutes(string text, double milliseconds)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), DurationParser.Parse(text));
    }

    [Theory]
    [InlineData("24")]
    [InlineData("-1h")]
    [InlineData("soon")]
    [InlineData("-5ms")]
    [InlineData("")]
    public void Duration_WithoutAUnitOrNegative_IsRefusedWithAnExample(string text)
    {
        Assert.Contains("24h", Assert.Throws<PoolException>(() => DurationParser.Parse(text)).Message);
    }

    [Theory]
    [InlineData("512MB", 512L << 20)]
    [InlineData("200GB", 200L << 30)]
    [InlineData("1.5TB", 3L << 39)]
    [InlineData("2GiB", 2L << 30)]
    [InlineData("4096", 4096L)]
    public void Size_WithAUnit_IsParsedInPowersOf1024(string text, long bytes) => Assert.Equal(bytes, SizeParser.Parse(text));

    [Theory]
    [InlineData("")]
    [InlineData("-5GB")]
    [InlineData("lots")]
    [InlineData("5XB")]
    [InlineData("99999999999TB")]
    public void Size_Malformed_IsRefusedWithAnExample(string text) =>
        Assert.Contains("200GB", Assert.Throws<PoolException>(() => SizeParser.Parse(text)).Message);

    [Theory]
    [InlineData("0.0.0.0:7470", "0.0.0.0:7470")]
    [InlineData("127.0.0.1:0", "127.0.0.1:0")]
    [InlineData(":8000", "0.0.0.0:8000")]
    [InlineData("8000", "0.0.0.0:8000")]
    [InlineData("localhost:9000", "127.0.0.1:9000")]
    [InlineData("[::]:7470", "[::]:7470")]
    public void ListenAddress_IsParsed(string text, string expected)
    {
        Assert.Equal(expected, CoordinatorHost.ParseEndpoint(text).ToString());
    }

    [Theory]
    [InlineData("example.com:80")]
    [InlineData("127.0.0.1")]
    [InlineData("1.2.3.4:99999")]
    public void ListenAddress_ThatIsNotAnIpAndPort_IsRefused(string text)
    {
        Assert.Contains("ADDR:PORT", Assert.Throws<PoolException>(() => CoordinatorHost.ParseEndpoint(text)).Message);
    }
}
