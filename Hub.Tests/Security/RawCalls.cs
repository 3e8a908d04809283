using System.Text.Json;
using CollabHub.Tests.Hostile;

namespace CollabHub.Tests.Security;

/// <summary>Calls on a <see cref="RawSignalRSocket"/> with request objects, and the events it received.</summary>
internal static class RawCalls
{
    public static Task<Outcome> CallAsync(this RawSignalRSocket socket, string method, object request) =>
        socket.InvokeAsync(method, JsonSerializer.Serialize(request));

    /// <summary>The result of a call that must succeed.</summary>
    public static async Task<JsonElement> ResultOfAsync(this RawSignalRSocket socket, string method, object request)
    {
        var outcome = await socket.CallAsync(method, request);
        Assert.True(outcome.Kind == OutcomeKind.Result, $"{method} {JsonSerializer.Serialize(request)} did not succeed: {outcome}");
        return outcome.Result ?? default;
    }

    /// <summary>The code of the error a call must fail with.</summary>
    public static async Task<string?> ErrorOfAsync(this RawSignalRSocket socket, string method, object request)
    {
        var outcome = await socket.CallAsync(method, request);
        Assert.True(outcome.Kind == OutcomeKind.Error, $"{method} {JsonSerializer.Serialize(request)} did not fail with an error: {outcome}");
        return outcome.Code;
    }

    /// <summary>The keys a full Sync of <paramref name="roomId"/> shows (one page is enough for the small rooms of these tests).</summary>
    public static async Task<IReadOnlyList<string>> KeysAsync(this RawSignalRSocket socket, string roomId)
    {
        var sync = await socket.ResultOfAsync("Sync", new { roomId, sinceSeq = 0 });
        return [.. sync.GetProperty("entries").EnumerateArray().Where(e => !e.GetProperty("deleted").GetBoolean()).Select(e => e.GetProperty("key").GetString()!)];
    }

    /// <summary>The events (Signaled, Changed, ...) named <paramref name="target"/> that <paramref name="socket"/> received, as their arguments.</summary>
    public static IReadOnlyList<JsonElement> EventArguments(this RawSignalRSocket socket, string target) =>
        [.. socket.Events.Where(e => e.GetProperty("target").GetString() == target).Select(e => e.GetProperty("arguments"))];
}
