using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text.Json;
using CollabHub.Tests.Infrastructure;
using Microsoft.AspNetCore.SignalR.Client;

namespace CollabHub.Tests.Security;

/// <summary>How a test presents its token to the hub.</summary>
public enum TokenChannel
{
    /// <summary>The WebSocket handshake, with <c>Authorization: Bearer</c>.</summary>
    WebSocketHeader,

    /// <summary>The WebSocket handshake, with <c>?access_token=</c>.</summary>
    WebSocketQuery,

    /// <summary><c>POST /hubs/collab/negotiate</c>, with <c>Authorization: Bearer</c>.</summary>
    Negotiate,
}

/// <summary>Raw hub connections and HTTP requests, independent of the client SDK, for the security tests.</summary>
internal static class SecurityClients
{
    public static readonly HttpClient Http = new() { Timeout = TestClients.Timeout };

    /// <summary>A started SignalR connection over a direct WebSocket, presenting <paramref name="token"/> (if any).</summary>
    public static async Task<HubConnection> ConnectAsync(Uri hubUrl, string? token, bool inQuery = false)
    {
        // SignalR's .NET client sends the token in the Authorization header only; in the query it goes by hand.
        var url = inQuery && token is not null ? new Uri($"{hubUrl}?access_token={Uri.EscapeDataString(token)}") : hubUrl;
        var connection = new HubConnectionBuilder()
            .WithDirectWebSocket(url, inQuery ? null : token)
            .Build();
        try
        {
            await connection.StartAsync().Within();
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
        return connection;
    }

    /// <summary>The HTTP status the hub answers <paramref name="token"/> with over <paramref name="channel"/> (101 or 200: let in).</summary>
    public static Task<int> StatusAsync(Uri hubUrl, string? token, TokenChannel channel, string? extraQuery = null) => channel switch
    {
        TokenChannel.Negotiate => NegotiateStatusAsync(hubUrl, token, extraQuery),
        _ => HandshakeStatusAsync(hubUrl, token, channel == TokenChannel.WebSocketQuery, extraQuery),
    };

    /// <summary>Opens a WebSocket to the hub: 101 when it is let in, else the status of the refusal.</summary>
    public static async Task<int> HandshakeStatusAsync(Uri hubUrl, string? token, bool inQuery, string? extraQuery = null)
    {
        var query = new List<string>();
        if (extraQuery is not null)
        {
            query.Add(extraQuery);
        }
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        if (token is not null)
        {
            if (inQuery)
            {
                query.Add("access_token=" + Uri.EscapeDataString(token));
            }
            else
            {
                socket.Options.SetRequestHeader("Authorization", "Bearer " + token);
            }
        }
        var url = new UriBuilder(hubUrl) { Scheme = "ws", Query = string.Join("&", query) }.Uri;
        try
        {
            await socket.ConnectAsync(url, CancellationToken.None).Within();
            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None).Within();
            return 101;
        }
        catch (WebSocketException) when (socket.HttpStatusCode != 0)
        {
            return (int)socket.HttpStatusCode;
        }
    }

    public static async Task<int> NegotiateStatusAsync(Uri hubUrl, string? token, string? extraQuery = null)
    {
        using var response = await NegotiateAsync(hubUrl, token, extraQuery);
        return (int)response.StatusCode;
    }

    public static async Task<HttpResponseMessage> NegotiateAsync(Uri hubUrl, string? token, string? extraQuery = null)
    {
        var query = "negotiateVersion=1" + (extraQuery is null ? "" : "&" + extraQuery);
        using var request = new HttpRequestMessage(HttpMethod.Post, new UriBuilder(hubUrl) { Path = hubUrl.AbsolutePath + "/negotiate", Query = query }.Uri);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        return await Http.SendAsync(request).Within();
    }

    /// <summary><c>POST /auth/dev-token</c> with a JSON body.</summary>
    public static async Task<(HttpStatusCode Status, JsonElement Body)> DevTokenAsync(Uri baseUrl, string json, string contentType = "application/json")
    {
        using var content = new StringContent(json, System.Text.Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        using var response = await Http.PostAsync(new Uri(baseUrl, "/auth/dev-token"), content).Within();
        var text = await response.Content.ReadAsStringAsync().Within();
        var body = text.Length > 0 ? JsonDocument.Parse(text).RootElement.Clone() : default;
        return (response.StatusCode, body);
    }

    /// <summary>Joins <paramref name="room"/> and sets a key in it; returns the join's presence and the written entry.</summary>
    public static async Task<(JsonElement Presence, JsonElement Entry)> JoinAndSetAsync(this HubConnection connection, string room)
    {
        var joined = await connection.InvokeAsync<JsonElement>("Join", new { roomId = room }).Within();
        var written = await connection.InvokeAsync<JsonElement>("Set", new { roomId = room, key = "k", value = 1 }).Within();
        return (joined.GetProperty("presence"), written.GetProperty("entry"));
    }
}
