using Grpc.Core;
using Tessera.Serving.Protocol;

namespace Tessera.Serving;

/// <summary>Asks one stage for its status from here: whether this machine reaches it, apart from any pipeline.</summary>
public static class StageProbe
{
    /// <summary>Null when the stage at <paramref name="endpoint"/> answers within <paramref name="timeout"/>; otherwise why not, in words.</summary>
    public static async Task<string?> ProblemAsync(string endpoint, StageTls? tls, TimeSpan timeout, CancellationToken cancellation = default)
    {
        using var channel = StageChannels.Create(endpoint, tls);
        try
        {
            await new Stage.StageClient(channel).StatusAsync(new StatusRequest(), deadline: DateTime.UtcNow.Add(timeout), cancellationToken: cancellation)
                .ResponseAsync.ConfigureAwait(false);
            return null;
        }
        catch (RpcException e) when (!cancellation.IsCancellationRequested)
        {
            return e.Status.Detail;
        }
    }
}
