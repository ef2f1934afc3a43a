namespace Tessera.Api;

/// <summary>Decides whether a request may use the API.</summary>
public interface IApiKeyValidator
{
    /// <summary>
    /// True when <paramref name="apiKey"/> (the bearer token of the request, or null when it sent none) may use
    /// the API. Must be thread-safe; called once per request.
    /// </summary>
    ValueTask<bool> ValidateAsync(string? apiKey, CancellationToken cancellationToken);
}

/// <summary>Validators that need no store.</summary>
public static class ApiKeyValidators
{
    /// <summary>Lets every request in, with or without a key (<c>tessera serve --no-auth</c>).</summary>
    public static IApiKeyValidator AllowAll { get; } = new AllowAllValidator();

    /// <summary>Accepts exactly <paramref name="key"/> (compared in constant time).</summary>
    public static IApiKeyValidator Single(string key) => new SingleKeyValidator(key);

    private sealed class AllowAllValidator : IApiKeyValidator
    {
        public ValueTask<bool> ValidateAsync(string? apiKey, CancellationToken cancellationToken) => ValueTask.FromResult(true);
    }

    private sealed class SingleKeyValidator(string key) : IApiKeyValidator
    {
        private readonly string _hash = Keys.ApiKeyFormat.Hash(key);

        public ValueTask<bool> ValidateAsync(string? apiKey, CancellationToken cancellationToken) =>
            ValueTask.FromResult(apiKey is not null && Keys.ApiKeyFormat.Matches(apiKey, _hash));
    }
}
