namespace Tessera.Api;

/// <summary>What a valid key may do: which model, and how fast.</summary>
/// <param name="KeyId">Which key it is (for its rate limit); null for a host that checks no keys.</param>
/// <param name="Model">The one model it may use; null: every model.</param>
/// <param name="RequestsPerMinute">Requests it may make per minute; null: no limit.</param>
public sealed record ApiKeyGrant(string? KeyId, string? Model = null, int? RequestsPerMinute = null)
{
    /// <summary>Every model, no limit.</summary>
    public static ApiKeyGrant Unrestricted { get; } = new(KeyId: null);

    /// <summary>Whether it may use <paramref name="model"/>.</summary>
    public bool Allows(string model) => Model is null || string.Equals(Model, model, StringComparison.Ordinal);
}

/// <summary>Decides whether a request may use the API, and what it may do.</summary>
public interface IApiKeyValidator
{
    /// <summary>
    /// What <paramref name="apiKey"/> (the bearer token of the request, or null when it sent none) may do; null when it
    /// may not use the API (no key, unknown, revoked or expired). Must be thread-safe; called once per request.
    /// </summary>
    ValueTask<ApiKeyGrant?> ValidateAsync(string? apiKey, CancellationToken cancellationToken);
}

/// <summary>Validators that need no store.</summary>
public static class ApiKeyValidators
{
    /// <summary>Lets every request in, with or without a key (<c>tessera serve --no-auth</c>).</summary>
    public static IApiKeyValidator AllowAll { get; } = new AllowAllValidator();

    /// <summary>Accepts exactly <paramref name="key"/> (compared in constant time), for every model, with no limit.</summary>
    public static IApiKeyValidator Single(string key) => new SingleKeyValidator(key);

    private sealed class AllowAllValidator : IApiKeyValidator
    {
        public ValueTask<ApiKeyGrant?> ValidateAsync(string? apiKey, CancellationToken cancellationToken) => ValueTask.FromResult<ApiKeyGrant?>(ApiKeyGrant.Unrestricted);
    }

    private sealed class SingleKeyValidator(string key) : IApiKeyValidator
    {
        private readonly string _hash = Keys.ApiKeyFormat.Hash(key);

        public ValueTask<ApiKeyGrant?> ValidateAsync(string? apiKey, CancellationToken cancellationToken) =>
            ValueTask.FromResult(apiKey is not null && Keys.ApiKeyFormat.Matches(apiKey, _hash) ? ApiKeyGrant.Unrestricted : null);
    }
}
