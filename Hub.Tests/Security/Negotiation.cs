using System.Net.Http.Headers;
using System.Text.Json;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Security;

/// <summary>What <c>POST /hubs/collab/negotiate</c> answered: its JSON, and the ids in it (null when absent).</summary>
internal sealed record Negotiation(int Status, string Body, string? ConnectionId, string? ConnectionToken)
{
    public static async Task<Negotiation> PostAsync(Uri hubUrl, string bearer, string query = "negotiateVersion=1")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new UriBuilder(hubUrl) { Path = hubUrl.AbsolutePath + "/negotiate", Query = query }.Uri);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        using var response = await SecurityClients.Http.SendAsync(request).Within();
        var body = await response.Content.ReadAsStringAsync().Within();
        string? connectionId = null, connectionToken = null;
        if (body.StartsWith('{'))
        {
            var json = JsonDocument.Parse(body).RootElement;
            connectionId = json.TryGetProperty("connectionId", out var id) ? id.GetString() : null;
            connectionToken = json.TryGetProperty("connectionToken", out var token) ? token.GetString() : null;
        }
        return new Negotiation((int)response.StatusCode, body, connectionId, connectionToken);
    }

    /// <summary>The id a transport request names the connection by: the token (version 1) or else the connection id (version 0).</summary>
    public string TransportId => ConnectionToken ?? ConnectionId ?? throw new InvalidOperationException($"the negotiate answer names no connection: {Body}");
}
