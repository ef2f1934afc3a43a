using System.Text.Json;

namespace Tessera.Pool.Client;

/// <summary>coordinator.json in the coordinator's data directory: how local CLI commands find the running coordinator.</summary>
public sealed record CoordinatorInfo(string ApiUrl, string JoinAddress, string Listen, string CaSha256, string PoolId, int Pid)
{
    public static CoordinatorInfo? TryLoad(string path)
    {
        if (!File.Exists(path))
            return null;
        try
        {
            return JsonSerializer.Deserialize<CoordinatorInfo>(File.ReadAllText(path), JsonSerializerOptions.Web);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public void Save(string path)
    {
        var temp = path + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(this, new JsonSerializerOptions(JsonSerializerOptions.Web) { WriteIndented = true }));
        File.Move(temp, path, overwrite: true);
    }
}
