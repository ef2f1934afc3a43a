using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Tessera.Distribution;
using Tessera.Identity;
using Tessera.Pool.Client;
using Tessera.Pool.Coordinator;

namespace Tessera.Deploy;

/// <summary>
/// The deployment endpoints on the coordinator's port: <c>/api/deployments</c> (admin key) and <c>/blobs</c>, the
/// coordinator's content store, for agents only (mutual TLS: a node certificate of the pool).
/// </summary>
public static class DeploymentApi
{
    public static void Map(IEndpointRouteBuilder app, DeploymentController controller, CoordinatorContext pool)
    {
        var api = app.MapGroup("/api/deployments").AddEndpointFilter(new AdminKeyFilter(pool));
        api.MapGet("", () => controller.List());
        api.MapGet("/{name}", (string name) => controller.Find(name) is { } view ? Results.Ok(view) : NotFound(name));
        api.MapPost("", async (DeploymentRequest? request, CancellationToken cancellationToken) =>
        {
            if (request is null)
                return Results.BadRequest(new ErrorView("Send a JSON body: {\"model\": \"PATH or hf://owner/repo/file.gguf\", \"name\": ...}."));
            var outcome = await controller.CreateAsync(request, cancellationToken).ConfigureAwait(false);
            return outcome.View is { } view
                ? Results.Created($"/api/deployments/{Uri.EscapeDataString(view.Name)}", view)
                : Results.Json(new ErrorView(outcome.Error ?? "failed"), statusCode: outcome.Status);
        });
        api.MapDelete("/{name}", async (string name) =>
            await controller.DeleteAsync(name).ConfigureAwait(false) is { } view ? Results.Ok(view) : NotFound(name));

        app.MapContentStore(controller.Content).AddEndpointFilter(async (context, next) =>
        {
            var certificate = context.HttpContext.Connection.ClientCertificate;
            if (certificate is null || CertificateChecks.CheckNode(certificate, pool.Authority.Certificate, pool.Time.GetUtcNow()).Error is { } _)
                return Results.Json(new ErrorView("The model store is for the pool's agents: present a node certificate (mutual TLS)."), statusCode: 401);
            return await next(context).ConfigureAwait(false);
        });
    }

    private static IResult NotFound(string name) =>
        Results.NotFound(new ErrorView($"No deployment named '{name}'. List deployments with `tessera deployments`."));
}
