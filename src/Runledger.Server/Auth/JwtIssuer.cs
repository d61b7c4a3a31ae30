using System.Security.Claims;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Runledger.Server.Auth;

/// <summary>Signs JWTs with the server's key: for OAuth clients and for execution processes.</summary>
public sealed class JwtIssuer(SigningKey signingKey, IOptions<AuthOptions> options, TimeProvider time)
{
    public const string ExecutionClaim = "rl_exec";
    public const string ResourceGroupClaim = "rl_rg";
    public const string ExecutionScope = "execution";

    public string Issue(IEnumerable<Claim> claims, TimeSpan lifetime)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = options.Value.Issuer,
            Audience = options.Value.Issuer,
            IssuedAt = now,
            NotBefore = now,
            Expires = now.Add(lifetime),
            Subject = new ClaimsIdentity(claims.Append(new Claim("jti", Guid.NewGuid().ToString("N")))),
            SigningCredentials = new SigningCredentials(signingKey.Key, SecurityAlgorithms.HmacSha256),
        };
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(descriptor);
    }

    /// <summary>
    /// The token an execution's process gets: valid only for that execution in its resource group,
    /// and only on endpoints that accept execution tokens (logging its metrics).
    /// </summary>
    public string IssueForExecution(string executionId, string resourceGroup, TimeSpan lifetime) => Issue(
        [
            new Claim("sub", "execution:" + executionId),
            new Claim(AuthClaims.CredentialId, "execution:" + executionId),
            new Claim(AuthClaims.Org, "default"),
            new Claim(AuthClaims.Scope, ExecutionScope),
            new Claim(ExecutionClaim, executionId),
            new Claim(ResourceGroupClaim, resourceGroup),
        ],
        lifetime);
}

/// <summary>Marks an endpoint that an execution's own token may call.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class AllowExecutionTokenAttribute : Attribute;

/// <summary>Execution tokens are refused everywhere but on endpoints marked <see cref="AllowExecutionTokenAttribute"/>.</summary>
internal sealed class NotExecutionTokenRequirement : Microsoft.AspNetCore.Authorization.AuthorizationHandler<NotExecutionTokenRequirement>, Microsoft.AspNetCore.Authorization.IAuthorizationRequirement
{
    protected override Task HandleRequirementAsync(Microsoft.AspNetCore.Authorization.AuthorizationHandlerContext context, NotExecutionTokenRequirement requirement)
    {
        var allowed = context.Resource is HttpContext http && http.GetEndpoint()?.Metadata.GetMetadata<AllowExecutionTokenAttribute>() is not null;
        if (allowed || context.User.FindFirst(JwtIssuer.ExecutionClaim) is null)
        {
            context.Succeed(requirement);
        }

        return Task.CompletedTask;
    }
}
