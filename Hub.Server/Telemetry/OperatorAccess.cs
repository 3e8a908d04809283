using CollabHub.Server.Configuration;

namespace CollabHub.Server.Telemetry;

/// <summary>
/// The admin policy of operators' endpoints: a user with the role, or a claim of the type, named in
/// <c>CollabHub:Auth:AdminRole</c>. Open in Development; outside it, nobody while AdminRole is empty.
/// </summary>
internal static class OperatorAccess
{
    public const string PolicyName = "CollabHubAdmin";

    public static IServiceCollection AddOperatorAccess(this IServiceCollection services, AuthOptions auth, IHostEnvironment environment)
    {
        var role = auth.AdminRole;
        services.AddAuthorizationBuilder().AddPolicy(PolicyName, policy =>
        {
            if (environment.IsDevelopment())
            {
                policy.RequireAssertion(static _ => true);
                return;
            }
            policy.RequireAuthenticatedUser().RequireAssertion(context =>
                role.Length > 0 && (context.User.IsInRole(role) || context.User.HasClaim(claim => claim.Type == role)));
        });
        return services;
    }
}
