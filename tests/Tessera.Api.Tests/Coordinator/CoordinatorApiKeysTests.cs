using System.Net;
using System.Net.Http.Headers;
using Tessera.Api.Tests.Unit;
using Tessera.Pool;
using Tessera.Pool.Client;

namespace Tessera.Api.Tests.Coordinator;

/// <summary>The coordinator as `pool start` composes it, with a scripted model at /v1: behind keys made and revoked through /api/keys.</summary>
public sealed class CoordinatorApiKeysTests : IAsyncLifetime
{
    private ComposedCoordinator _pool = null!;

    public async Task InitializeAsync() => _pool = await ComposedCoordinator.StartAsync();

    public async Task DisposeAsync() => await _pool.DisposeAsync();

    private HttpClient V1Client(string? key)
    {
        var http = _pool.Http();
        if (key is not null)
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return http;
    }

    [Fact]
    public async Task KeyCreatedThroughAdminApi_OpensV1_UntilRevoked()
    {
        using var admin = PoolApiClient.Create(_pool.Data, null, null, TimeProvider.System);
        var created = await admin.CreateApiKeyAsync("ci", CancellationToken.None);
        Assert.StartsWith("tsk_", created.Key);

        using (var anonymous = V1Client(null))
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("v1/models")).StatusCode);
        using (var admin401 = V1Client(File.ReadAllText(_pool.Data.AdminKey).Trim()))
            Assert.Equal(HttpStatusCode.Unauthorized, (await admin401.GetAsync("v1/models")).StatusCode);

        using var client = V1Client(created.Key);
        var models = await client.GetAsync("v1/models");
        Assert.Equal(HttpStatusCode.OK, models.StatusCode);
        Assert.Contains(FakeGenerationService.Model, await models.Content.ReadAsStringAsync());

        var listed = Assert.Single(await admin.GetApiKeysAsync(CancellationToken.None));
        Assert.Equal(("ci", "active"), (listed.Name, listed.Status));
        Assert.DoesNotContain(created.Key, listed.Hint);

        var revoked = await admin.RevokeApiKeyAsync(created.Id, CancellationToken.None);
        Assert.Equal("revoked", revoked.Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("v1/models")).StatusCode);

        var missing = await Assert.ThrowsAsync<PoolException>(() => admin.RevokeApiKeyAsync("key_missing", CancellationToken.None));
        Assert.Contains("key_missing", missing.Message);
    }

    [Fact]
    public async Task ScopedKey_SeesOnlyItsModel_AndARateLimitedKeyGets429WithRetryAfter()
    {
        using var admin = PoolApiClient.Create(_pool.Data, null, null, TimeProvider.System);
        var scoped = await admin.CreateApiKeyAsync(new CreateApiKeyRequest("other-team", "7d", "other-model"), CancellationToken.None);
        Assert.Equal("other-model", scoped.Model);
        Assert.NotNull(scoped.ExpiresAt);
        using (var client = V1Client(scoped.Key))
        {
            var models = await (await client.GetAsync("v1/models")).Content.ReadAsStringAsync();
            Assert.DoesNotContain(FakeGenerationService.Model, models);
            Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"v1/models/{FakeGenerationService.Model}")).StatusCode);
            var chat = await client.PostAsync("v1/chat/completions", Json($$"""{"model":"{{FakeGenerationService.Model}}","messages":[{"role":"user","content":"hi"}]}"""));
            Assert.Equal(HttpStatusCode.NotFound, chat.StatusCode);
            Assert.Contains("model_not_found", await chat.Content.ReadAsStringAsync());
        }

        var limited = await admin.CreateApiKeyAsync(new CreateApiKeyRequest("slow", RequestsPerMinute: 2), CancellationToken.None);
        using (var client = V1Client(limited.Key))
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("v1/models")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("v1/models")).StatusCode);
            var third = await client.GetAsync("v1/models");
            Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
            Assert.InRange(third.Headers.RetryAfter?.Delta?.TotalSeconds ?? 0, 1, 30);
            Assert.Contains("rate_limit_exceeded", await third.Content.ReadAsStringAsync());
        }

        var listed = await admin.GetApiKeysAsync(CancellationToken.None);
        Assert.Equal(["other-model", null], listed.Select(k => k.Model));
        Assert.Equal([null, 2], listed.Select(k => k.RequestsPerMinute));

        var badTtl = await Assert.ThrowsAsync<PoolException>(() => admin.CreateApiKeyAsync(new CreateApiKeyRequest("x", "soon"), CancellationToken.None));
        Assert.Contains("not a duration", badTtl.Message);
        var badRate = await Assert.ThrowsAsync<PoolException>(() => admin.CreateApiKeyAsync(new CreateApiKeyRequest("x", RequestsPerMinute: 0), CancellationToken.None));
        Assert.Contains("requests a minute", badRate.Message);
        Assert.Equal(2, (await admin.GetApiKeysAsync(CancellationToken.None)).Count);
    }

    private static StringContent Json(string body) => new(body, System.Text.Encoding.UTF8, "application/json");

    [Fact]
    public async Task RotatingTheAdminKey_RefusesTheOldKey_AndWritesTheNewOneToAdminKey()
    {
        var old = File.ReadAllText(_pool.Data.AdminKey).Trim();
        RotatedAdminKeyView rotated;
        using (var admin = PoolApiClient.Create(_pool.Data, null, null, TimeProvider.System))
        {
            rotated = await admin.RotateAdminKeyAsync(CancellationToken.None);
            Assert.StartsWith("tsa_", rotated.Key);
            Assert.NotEqual(old, rotated.Key);
            Assert.Equal(rotated.Key, File.ReadAllText(_pool.Data.AdminKey).Trim());
            // This client still sends the old key: refused from now on (exit code 5: refused).
            var refused = await Assert.ThrowsAsync<PoolException>(() => admin.GetApiKeysAsync(CancellationToken.None));
            Assert.Equal(5, refused.ExitCode);
            Assert.DoesNotContain(_pool.Directory.FullName, refused.Message); // no file paths in the error
        }
        using (var fresh = PoolApiClient.Create(_pool.Data, null, null, TimeProvider.System))
            Assert.Empty(await fresh.GetApiKeysAsync(CancellationToken.None));
    }

    [Fact]
    public async Task KeysEndpoints_NeedTheAdminKey()
    {
        using var http = V1Client("tsk_not-admin");
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("api/keys")).StatusCode);
    }
}
