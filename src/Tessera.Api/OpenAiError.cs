using System.Net;

namespace Tessera.Api;

/// <summary>
/// An error a client caused or must handle, answered in OpenAI's shape
/// <c>{"error":{"message","type","param","code"}}</c> with <see cref="Status"/>.
/// </summary>
public sealed class OpenAiError : Exception
{
    public OpenAiError(HttpStatusCode status, string message, string type, string? param = null, string? code = null, TimeSpan? retryAfter = null)
        : base(message)
    {
        Status = status;
        Type = type;
        Param = param;
        Code = code;
        RetryAfter = retryAfter;
    }

    public HttpStatusCode Status { get; }

    /// <summary>OpenAI's error type: invalid_request_error, requests, server_error, ...</summary>
    public string Type { get; }

    /// <summary>The request field at fault, when one is.</summary>
    public string? Param { get; }

    /// <summary>A machine-readable code: invalid_api_key, model_not_found, context_length_exceeded, ...</summary>
    public string? Code { get; }

    /// <summary>For 429 and 503: when to retry (sent as the Retry-After header).</summary>
    public TimeSpan? RetryAfter { get; }

    public static OpenAiError Invalid(string message, string? param = null, string? code = null) =>
        new(HttpStatusCode.BadRequest, message, "invalid_request_error", param, code);

    public static OpenAiError TooLarge(long limit) =>
        new(HttpStatusCode.RequestEntityTooLarge, $"The request body is larger than this server reads ({limit} bytes). Send a shorter prompt or fewer messages.",
            "invalid_request_error", null, "request_too_large");

    public static OpenAiError MissingKey() =>
        new(HttpStatusCode.Unauthorized, "You didn't provide an API key. Send it in an Authorization header as 'Authorization: Bearer KEY'; keys are made with `tessera key create`.",
            "invalid_request_error", null, "invalid_api_key");

    public static OpenAiError WrongKey() =>
        new(HttpStatusCode.Unauthorized, "Incorrect API key provided, or it was revoked or has expired. Make a key with `tessera key create`, or list the valid ones with `tessera key list`.",
            "invalid_request_error", null, "invalid_api_key");

    /// <summary>429: the key made more requests than its rate allows.</summary>
    public static OpenAiError RateLimited(TimeSpan retryAfter, int perMinute) =>
        new(HttpStatusCode.TooManyRequests, $"This key may make {perMinute} requests a minute; retry after {Math.Max(1, Math.Ceiling(retryAfter.TotalSeconds))} s.",
            "requests", null, "rate_limit_exceeded", retryAfter);

    public static OpenAiError ModelNotFound(string model) =>
        new(HttpStatusCode.NotFound, $"The model '{model}' does not exist or is not deployed; list models with GET /v1/models.",
            "invalid_request_error", "model", "model_not_found");

    public static OpenAiError Busy(TimeSpan retryAfter, string message) =>
        new(HttpStatusCode.TooManyRequests, message, "requests", null, "rate_limit_exceeded", retryAfter);

    /// <summary>503: the model could not finish this request because part of the pool failed; the same request sent again will succeed once it recovers.</summary>
    public static OpenAiError Unavailable(TimeSpan retryAfter, string message) =>
        new(HttpStatusCode.ServiceUnavailable, $"{message} Send the same request again after {Math.Max(1, Math.Ceiling(retryAfter.TotalSeconds))} s; with a seed (or temperature 0) the text is the same.",
            "server_error", null, "service_unavailable", retryAfter);

    public static OpenAiError Internal() =>
        new(HttpStatusCode.InternalServerError, "The server had an error while processing your request. Retry it; if the error persists, see the server's log.",
            "server_error", null, null);
}
