namespace Tessera.Distribution.Tests;

/// <summary>The hub's settings read from the environment as huggingface_hub reads them.</summary>
public sealed class HuggingFaceOptionsTests : IDisposable
{
    private readonly DirectoryInfo _home = Directory.CreateTempSubdirectory("tessera-hf-options-");

    public void Dispose() => _home.Delete(recursive: true);

    private HuggingFaceOptions Read(params (string Name, string Value)[] variables) =>
        HuggingFaceOptions.FromEnvironment(name => variables.FirstOrDefault(v => v.Name == name).Value, _home.FullName);

    private string WriteToken(string relative, string token)
    {
        var path = Path.Combine(_home.FullName, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, token + "\n");
        return path;
    }

    [Fact]
    public void TheTokenFile_IsReadFromItsDefaultPlace_FromHfHome_AndFromHfTokenPath()
    {
        var byDefault = WriteToken(".cache/huggingface/token", "hf_default");
        Assert.Equal(("hf_default", byDefault), (Read().Token, Read().TokenSource));

        var inHfHome = WriteToken("hf-home/token", "hf_home");
        Assert.Equal("hf_home", Read(("HF_HOME", Path.Combine(_home.FullName, "hf-home"))).Token);

        var explicitPath = WriteToken("elsewhere/my-token", "hf_path");
        Assert.Equal(("hf_path", explicitPath), (Read(("HF_TOKEN_PATH", explicitPath), ("HF_HOME", Path.GetDirectoryName(inHfHome)!)).Token,
            Read(("HF_TOKEN_PATH", explicitPath)).TokenSource));
    }

    [Fact]
    public void HfToken_ComesBeforeTheTokenFile_AndNoneGivesNoToken()
    {
        Assert.Null(Read().Token);
        WriteToken(".cache/huggingface/token", "hf_file");

        var options = Read(("HF_TOKEN", " hf_env "));

        Assert.Equal(("hf_env", "HF_TOKEN"), (options.Token, options.TokenSource));
    }

    [Theory]
    [InlineData("1", true)]
    [InlineData("true", true)]
    [InlineData("ON", true)]
    [InlineData("0", false)]
    [InlineData("", false)]
    public void HfHubOffline_TurnsTheNetworkOff(string value, bool offline) =>
        Assert.Equal(offline, Read(("HF_HUB_OFFLINE", value)).Offline);

    [Fact]
    public void HfEndpoint_IsTheHub() =>
        Assert.Equal(new Uri("http://127.0.0.1:9/"), Read(("HF_ENDPOINT", "http://127.0.0.1:9/")).Endpoint);
}
