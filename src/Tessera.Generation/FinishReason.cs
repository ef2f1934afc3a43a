namespace Tessera.Generation;

/// <summary>Why a generation ended.</summary>
public enum FinishReason
{
    /// <summary>The model produced an end-of-generation token (or, at the API, a stop string matched).</summary>
    Stop,

    /// <summary>The token budget ran out, or the context is full.</summary>
    Length,
}

/// <summary>The finish reasons as OpenAI's API and the pipeline's wire spell them.</summary>
public static class FinishReasons
{
    /// <summary>"stop" or "length".</summary>
    public static string ToApiString(this FinishReason reason) => reason switch
    {
        FinishReason.Stop => "stop",
        FinishReason.Length => "length",
        _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, null),
    };
}
