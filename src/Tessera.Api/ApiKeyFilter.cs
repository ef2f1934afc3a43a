using Microsoft.AspNetCore.Http;

namespace Tessera.Api;

/// <summary>
/// Lets a request through only with a key <c>/v1</c> would take (the same validator, the same <c>Authorization: Bearer
/// KEY</c>); otherwise answers 401 in OpenAI's error shape. For what a host serves beside <c>/v1</c> to the same clients,
/// such as <c>tessera serve</c>'s <c>/metrics</c>: whoever may use the model may read its figures.
/// </summary>
public sealed class ApiKeyFilter(IApiKeyValidator keys) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var key = OpenAiHandler.KeyOf(http.Request);
        if (await keys.ValidateAsync(key, http.RequestAborted).ConfigureAwait(false) is null)
        {
            await OpenAiHandler.WriteErrorAsync(http, key is null ? OpenAiError.MissingKey() : OpenAiError.WrongKey()).ConfigureAwait(false);
            return Results.Empty;
        }
        return await next(context).ConfigureAwait(false);
    }
}
