using Microsoft.AspNetCore.SignalR;

namespace CollabHub.Server.Hubs;

/// <summary>Makes the <see cref="HubException"/>s clients see: a stable code, a colon, then a sentence for people.</summary>
internal static class HubErrors
{
    public static HubException Create(string code, string detail) => new($"{code}: {detail}");
}
