using Grpc.Core;

namespace Tessera.Serving;

/// <summary>
/// How a broken lane tells its upstream which stage could not be reached. A stage that loses its next stage answers
/// <see cref="StatusCode.Unavailable"/> with a trailer naming the stage it could not reach (empty when the failure was
/// something else); each stage above passes the deepest answer on, so the driver learns which hop broke, not only that
/// the pipeline did. The controller uses it to tell a cut link from a dead stage.
/// </summary>
public static class StageFailure
{
    /// <summary>The trailer: HOST:PORT of the stage its upstream could not reach, or empty.</summary>
    public const string UnreachableTrailer = "tessera-unreachable";

    /// <summary>Trailers for a lane failure that could (or could not, when null) reach <paramref name="unreachable"/>.</summary>
    public static Metadata Trailers(string? unreachable) => new() { { UnreachableTrailer, unreachable ?? string.Empty } };

    /// <summary>True when the error is a stage's own answer (it carries the trailer), not a transport failure on the way to it.</summary>
    public static bool IsFromStage(RpcException error) => error.Trailers.Get(UnreachableTrailer) is not null;

    /// <summary>
    /// The stage that could not be reached, judged from an error of the call to <paramref name="next"/>: what the stage
    /// answered when it answered, else <paramref name="next"/> itself when the error is the transport's (connection
    /// lost, ping timeout), else null (it answered with an error of its own).
    /// </summary>
    public static string? Unreachable(RpcException error, string next)
    {
        ArgumentNullException.ThrowIfNull(error);
        if (error.Trailers.Get(UnreachableTrailer) is { } trailer)
            return string.IsNullOrEmpty(trailer.Value) ? null : trailer.Value;
        return error.StatusCode is StatusCode.Unavailable or StatusCode.Internal or StatusCode.Cancelled or StatusCode.DeadlineExceeded or StatusCode.Unknown
            ? next
            : null;
    }
}
