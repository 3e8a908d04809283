using System.Net.WebSockets;
using System.Text;

namespace CollabHub.Tests.Hostile;

/// <summary>What a hostile frame must get from the server.</summary>
internal enum Expect
{
    /// <summary>The server closes the connection (a protocol error, or a frame over the hub message limit).</summary>
    Closed,

    /// <summary>An error completion without a code: SignalR could not bind the call (wrong types, unknown method).</summary>
    Error,

    /// <summary>An error completion whose code is <see cref="HostileCase.Code"/>.</summary>
    Code,

    /// <summary>The call succeeds (and stores <see cref="HostileCase.Stores"/> changes).</summary>
    Result,

    /// <summary>No completion at all (not an invocation, or one without an id); the connection stays open and usable.</summary>
    Ignored,

    /// <summary>No completion; afterwards the connection is either still usable or closed, but not left half-dead.</summary>
    IgnoredOrClosed,

    /// <summary>
    /// Refused: an error completion whose code (if any) does not invite a retry, or a closed connection; never a
    /// result, and nothing stored.
    /// </summary>
    Refused,
}

/// <summary>
/// One hostile frame: how to build its bytes for a room and an invocation id, what the server must answer, and how
/// many changes it stores when it is a legitimate write.
/// </summary>
internal sealed record HostileCase(Expect Expect, Func<string, string, byte[]> Build, string? Code = null, int Stores = 0,
    WebSocketMessageType MessageType = WebSocketMessageType.Text);

/// <summary>The catalogue of hostile frames, by a readable name (the test's parameter).</summary>
internal static class HostileFrames
{
    private const char RS = RawSignalRSocket.RecordSeparator;

    public static IReadOnlyDictionary<string, HostileCase> All { get; } = Build();

    /// <summary>A text frame: <paramref name="template"/> with ROOM and ID replaced, and the record separator.</summary>
    private static Func<string, string, byte[]> Text(string template) =>
        (room, id) => Encoding.UTF8.GetBytes(template.Replace("ROOM", room, StringComparison.Ordinal).Replace("ID", id, StringComparison.Ordinal) + RS);

    /// <summary>An invocation of <paramref name="target"/> with <paramref name="request"/> (ROOM replaced) as its one argument.</summary>
    private static Func<string, string, byte[]> Call(string target, string request) =>
        Text($"{{\"type\":1,\"invocationId\":\"ID\",\"target\":\"{target}\",\"arguments\":[{request}]}}");

    /// <summary>An invocation whose bytes are spliced: <paramref name="before"/> + raw bytes + <paramref name="after"/>.</summary>
    private static Func<string, string, byte[]> Bytes(string before, byte[] middle, string after) =>
        (room, id) =>
        {
            var head = Encoding.UTF8.GetBytes(before.Replace("ROOM", room, StringComparison.Ordinal).Replace("ID", id, StringComparison.Ordinal));
            var tail = Encoding.UTF8.GetBytes(after.Replace("ROOM", room, StringComparison.Ordinal).Replace("ID", id, StringComparison.Ordinal) + RS);
            return [.. head, .. middle, .. tail];
        };

    private static string Nested(int depth, string open, string leaf, string close) =>
        string.Concat(Enumerable.Repeat(open, depth)) + leaf + string.Concat(Enumerable.Repeat(close, depth));

    private static Dictionary<string, HostileCase> Build()
    {
        const string setHead = "{\"type\":1,\"invocationId\":\"ID\",\"target\":\"Set\",\"arguments\":[{\"roomId\":\"ROOM\",";
        var cases = new Dictionary<string, HostileCase>(StringComparer.Ordinal)
        {
            // Malformed JSON: the hub protocol cannot read the message, so SignalR ends the connection.
            ["malformed: truncated object"] = new(Expect.Closed, Text("{\"type\":1,\"invocationId\":\"ID\",\"target\":\"Set\",\"arguments\":[{\"roomId\":\"ROOM\"")),
            ["malformed: not JSON at all"] = new(Expect.Closed, Text("this is not json")),
            ["malformed: trailing comma"] = new(Expect.Closed, Call("Set", "{\"roomId\":\"ROOM\",\"key\":\"k\",\"value\":1,}")),
            ["malformed: single quotes"] = new(Expect.Closed, Text("{'type':1,'invocationId':'ID','target':'Set','arguments':[{'roomId':'ROOM','key':'k','value':1}]}")),
            ["malformed: unquoted property names"] = new(Expect.Closed, Text("{type:1,invocationId:\"ID\",target:\"Set\",arguments:[]}")),
            ["malformed: empty record"] = new(Expect.Closed, Text("")),
            ["malformed: a JSON array instead of a message"] = new(Expect.Closed, Text("[1,2,3]")),
            ["malformed: JSON null instead of a message"] = new(Expect.Closed, Text("null")),
            ["malformed: no type"] = new(Expect.Closed, Text("{\"invocationId\":\"ID\",\"target\":\"Set\",\"arguments\":[]}")),
            ["malformed: type is a string"] = new(Expect.Closed, Text("{\"type\":\"1\",\"invocationId\":\"ID\",\"target\":\"Set\",\"arguments\":[]}")),
            ["malformed: two messages without a separator"] = new(Expect.Ignored,
                Text("{\"type\":6}{\"type\":1,\"invocationId\":\"ID\",\"target\":\"Set\",\"arguments\":[{\"roomId\":\"ROOM\",\"key\":\"k\",\"value\":1}]}")),
            ["malformed: raw control character inside a string"] = new(Expect.Closed, Call("Set", "{\"roomId\":\"ROOM\",\"key\":\"a\u0001b\",\"value\":1}")),
            ["malformed: a UTF-8 byte order mark before the message"] = new(Expect.Closed,
                Bytes("", [0xEF, 0xBB, 0xBF], "{\"type\":1,\"invocationId\":\"ID\",\"target\":\"Set\",\"arguments\":[{\"roomId\":\"ROOM\",\"key\":\"k\",\"value\":1}]}")),

            // Wrong types: the message is JSON, but the request does not bind; SignalR answers with an error.
            ["wrong type: roomId is a number"] = new(Expect.Error, Call("Set", "{\"roomId\":42,\"key\":\"k\",\"value\":1}")),
            ["wrong type: key is a number"] = new(Expect.Error, Call("Set", "{\"roomId\":\"ROOM\",\"key\":7,\"value\":1}")),
            ["wrong type: key is an object"] = new(Expect.Error, Call("Set", "{\"roomId\":\"ROOM\",\"key\":{\"a\":1},\"value\":1}")),
            ["wrong type: mutationId is a number"] = new(Expect.Error, Call("Set", "{\"roomId\":\"ROOM\",\"key\":\"k\",\"value\":1,\"mutationId\":5}")),
            ["wrong type: expectedVersion is a string"] = new(Expect.Error, Call("Set", "{\"roomId\":\"ROOM\",\"key\":\"k\",\"value\":1,\"expectedVersion\":\"0\"}")),
            ["wrong type: expectedVersion is a fraction"] = new(Expect.Error, Call("Set", "{\"roomId\":\"ROOM\",\"key\":\"k\",\"value\":1,\"expectedVersion\":1.5}")),
            ["wrong type: expectedVersion overflows a long"] = new(Expect.Error, Call("Set", "{\"roomId\":\"ROOM\",\"key\":\"k\",\"value\":1,\"expectedVersion\":99999999999999999999999}")),
            ["wrong type: sinceSeq is a boolean"] = new(Expect.Error, Call("Sync", "{\"roomId\":\"ROOM\",\"sinceSeq\":true}")),
            ["wrong type: limit is a string"] = new(Expect.Error, Call("Sync", "{\"roomId\":\"ROOM\",\"sinceSeq\":0,\"limit\":\"10\"}")),
            ["wrong type: the request is a string"] = new(Expect.Error, Call("Set", "\"ROOM\"")),
            ["wrong type: the request is an array"] = new(Expect.Error, Call("Set", "[\"ROOM\",\"k\",1]")),
            ["wrong type: the request is a number"] = new(Expect.Error, Call("Join", "12")),
            ["wrong type: the request is null"] = new(Expect.Code, Call("Set", "null"), "invalid_argument"),
            ["arguments: two request objects"] = new(Expect.Error, Call("Set", "{\"roomId\":\"ROOM\",\"key\":\"k\",\"value\":1},{\"roomId\":\"ROOM\",\"key\":\"k\",\"value\":2}")),
            ["arguments: none"] = new(Expect.Error, Text("{\"type\":1,\"invocationId\":\"ID\",\"target\":\"Set\",\"arguments\":[]}")),
            ["arguments: an object instead of an array"] = new(Expect.Closed, Text("{\"type\":1,\"invocationId\":\"ID\",\"target\":\"Set\",\"arguments\":{\"roomId\":\"ROOM\",\"key\":\"k\",\"value\":1}}")),
            ["arguments: a string instead of an array"] = new(Expect.Closed, Text("{\"type\":1,\"invocationId\":\"ID\",\"target\":\"Set\",\"arguments\":\"ROOM\"}")),
            ["arguments: null"] = new(Expect.Closed, Text("{\"type\":1,\"invocationId\":\"ID\",\"target\":\"Set\",\"arguments\":null}")),
            ["arguments: missing"] = new(Expect.Closed, Text("{\"type\":1,\"invocationId\":\"ID\",\"target\":\"Set\"}")),
            ["target: missing"] = new(Expect.Closed, Text("{\"type\":1,\"invocationId\":\"ID\",\"arguments\":[{\"roomId\":\"ROOM\",\"key\":\"k\",\"value\":1}]}")),
            ["target: a number"] = new(Expect.Closed, Text("{\"type\":1,\"invocationId\":\"ID\",\"target\":1,\"arguments\":[]}")),
            ["invocationId: a number"] = new(Expect.Closed, Text("{\"type\":1,\"invocationId\":1,\"target\":\"Set\",\"arguments\":[{\"roomId\":\"ROOM\",\"key\":\"k\",\"value\":1}]}")),

            // Methods that are not part of the contract.
            ["unknown method: DropAllRooms"] = new(Expect.Error, Call("DropAllRooms", "{\"roomId\":\"ROOM\"}")),
            ["unknown method: empty name"] = new(Expect.Error, Call("", "{\"roomId\":\"ROOM\"}")),
            ["unknown method: OnConnectedAsync"] = new(Expect.Error, Text("{\"type\":1,\"invocationId\":\"ID\",\"target\":\"OnConnectedAsync\",\"arguments\":[]}")),
            ["unknown method: OnDisconnectedAsync"] = new(Expect.Error, Call("OnDisconnectedAsync", "null")),
            ["unknown method: Dispose"] = new(Expect.Error, Text("{\"type\":1,\"invocationId\":\"ID\",\"target\":\"Dispose\",\"arguments\":[]}")),
            ["unknown method: WritableRoom (private)"] = new(Expect.Error, Call("WritableRoom", "\"ROOM\"")),
            ["unknown method: GetType"] = new(Expect.Error, Text("{\"type\":1,\"invocationId\":\"ID\",\"target\":\"GetType\",\"arguments\":[]}")),
            ["method name in lower case: set"] = new(Expect.Result, Call("set", "{\"roomId\":\"ROOM\",\"key\":\"lower\",\"value\":1}"), Stores: 1),

            // Missing fields: the hub's own checks, with their codes.
            ["missing: value"] = new(Expect.Code, Call("Set", "{\"roomId\":\"ROOM\",\"key\":\"k\"}"), "invalid_argument"),
            ["missing: key"] = new(Expect.Code, Call("Set", "{\"roomId\":\"ROOM\",\"value\":1}"), "invalid_key"),
            ["missing: roomId"] = new(Expect.Code, Call("Set", "{\"key\":\"k\",\"value\":1}"), "invalid_room"),
            ["missing: everything"] = new(Expect.Code, Call("Set", "{}"), "invalid_room"),
            ["missing: body of a Post"] = new(Expect.Code, Call("Post", "{\"roomId\":\"ROOM\"}"), "invalid_argument"),
            ["missing: payload of a Signal"] = new(Expect.Code, Call("Signal", "{\"roomId\":\"ROOM\"}"), "invalid_argument"),
            ["missing: sinceSeq of a Sync"] = new(Expect.Code, Call("Sync", "{\"roomId\":\"ROOM\"}"), "invalid_argument"),
            ["extra: unknown fields are ignored"] = new(Expect.Result, Call("Set", "{\"roomId\":\"ROOM\",\"key\":\"extra\",\"value\":1,\"admin\":true,\"seq\":999,\"by\":\"root\"}"), Stores: 1),

            // Sizes.
            ["size: value over MaxValueBytes"] = new(Expect.Code, Call("Set", $"{{\"roomId\":\"ROOM\",\"key\":\"k\",\"value\":\"{new string('x', HostileServer.MaxValueBytes)}\"}}"), "too_large"),
            ["size: body over MaxBodyBytes"] = new(Expect.Code, Call("Post", $"{{\"roomId\":\"ROOM\",\"body\":\"{new string('x', HostileServer.MaxValueBytes)}\"}}"), "too_large"),
            ["size: payload over MaxSignalBytes"] = new(Expect.Code, Call("Signal", $"{{\"roomId\":\"ROOM\",\"payload\":\"{new string('x', HostileServer.MaxSignalBytes)}\"}}"), "too_large"),
            ["size: value over the hub message limit"] = new(Expect.Closed, Call("Set", $"{{\"roomId\":\"ROOM\",\"key\":\"k\",\"value\":\"{new string('x', HostileServer.MaxHubMessageBytes)}\"}}")),
            ["size: a key of 10,000 characters"] = new(Expect.Code, Call("Set", $"{{\"roomId\":\"ROOM\",\"key\":\"{new string('k', 10_000)}\",\"value\":1}}"), "invalid_key"),
            ["size: a room id of 10,000 characters"] = new(Expect.Code, Call("Join", $"{{\"roomId\":\"{new string('r', 10_000)}\"}}"), "invalid_room"),

            // Deep nesting: System.Text.Json refuses more than 64 levels; nothing may overflow a stack.
            ["nesting: 10,000 nested arrays as the value"] = new(Expect.Closed, Call("Set", $"{{\"roomId\":\"ROOM\",\"key\":\"k\",\"value\":{Nested(10_000, "[", "", "]")}}}")),
            ["nesting: 1,000 nested arrays as the value"] = new(Expect.Closed, Call("Set", $"{{\"roomId\":\"ROOM\",\"key\":\"k\",\"value\":{Nested(1_000, "[", "", "]")}}}")),
            ["nesting: 100 nested arrays as the value"] = new(Expect.Closed, Call("Set", $"{{\"roomId\":\"ROOM\",\"key\":\"k\",\"value\":{Nested(100, "[", "", "]")}}}")),
            ["nesting: 3,000 nested objects as the value"] = new(Expect.Closed, Call("Set", $"{{\"roomId\":\"ROOM\",\"key\":\"k\",\"value\":{Nested(3_000, "{\"a\":", "1", "}")}}}")),
            ["nesting: 10,000 nested arrays as the request"] = new(Expect.Closed, Call("Set", Nested(10_000, "[", "", "]"))),
            ["nesting: 10,000 nested arrays in an unknown field"] = new(Expect.Closed, Call("Set", $"{{\"roomId\":\"ROOM\",\"junk\":{Nested(10_000, "[", "", "]")},\"key\":\"k\",\"value\":1}}")),
            ["nesting: 10,000 nested arrays as a Signal payload"] = new(Expect.Closed, Call("Signal", $"{{\"roomId\":\"ROOM\",\"payload\":{Nested(10_000, "[", "", "]")}}}")),

            // Control characters and unpaired surrogates (as JSON escapes) in room ids, keys and mutation ids.
            ["control: room id with U+0001"] = new(Expect.Code, Call("Join", "{\"roomId\":\"r\\u0001\"}"), "invalid_room"),
            ["control: room id with NUL"] = new(Expect.Code, Call("Set", "{\"roomId\":\"ROOM\\u0000\",\"key\":\"k\",\"value\":1}"), "invalid_room"),
            ["control: key with NUL"] = new(Expect.Code, Call("Set", "{\"roomId\":\"ROOM\",\"key\":\"a\\u0000b\",\"value\":1}"), "invalid_key"),
            ["control: key with DEL"] = new(Expect.Code, Call("Set", "{\"roomId\":\"ROOM\",\"key\":\"a\\u007fb\",\"value\":1}"), "invalid_key"),
            ["control: key with C1 NEL"] = new(Expect.Code, Call("Set", "{\"roomId\":\"ROOM\",\"key\":\"a\\u0085b\",\"value\":1}"), "invalid_key"),
            ["control: key with a newline"] = new(Expect.Code, Call("Delete", "{\"roomId\":\"ROOM\",\"key\":\"a\\nb\"}"), "invalid_key"),
            ["control: mutationId with NUL"] = new(Expect.Code, Call("Set", "{\"roomId\":\"ROOM\",\"key\":\"k\",\"value\":1,\"mutationId\":\"m\\u0000\"}"), "invalid_argument"),
            ["surrogate: room id is a lone high surrogate"] = new(Expect.Error, Call("Join", "{\"roomId\":\"\\ud800\"}")),
            ["surrogate: key is a lone high surrogate"] = new(Expect.Error, Call("Set", "{\"roomId\":\"ROOM\",\"key\":\"\\ud800\",\"value\":1}")),
            ["surrogate: key ends with a lone high surrogate"] = new(Expect.Error, Call("Set", "{\"roomId\":\"ROOM\",\"key\":\"abc\\ud83d\",\"value\":1}")),
            ["surrogate: key is a lone low surrogate"] = new(Expect.Error, Call("Set", "{\"roomId\":\"ROOM\",\"key\":\"\\udc00\",\"value\":1}")),
            ["surrogate: key is a reversed pair"] = new(Expect.Error, Call("Set", "{\"roomId\":\"ROOM\",\"key\":\"\\ude00\\ud83d\",\"value\":1}")),
            ["surrogate: key is a proper pair"] = new(Expect.Result, Call("Set", "{\"roomId\":\"ROOM\",\"key\":\"\\ud83d\\ude00\",\"value\":1}"), Stores: 1),
            ["surrogate: mutationId is a lone surrogate"] = new(Expect.Error, Call("Set", "{\"roomId\":\"ROOM\",\"key\":\"k\",\"value\":1,\"mutationId\":\"\\udfff\"}")),
            // A lone surrogate inside a JSON value cannot be written back by System.Text.Json: if the server kept it, it
            // could never send it to anyone. It must be refused (or else stored and delivered intact, which is not possible).
            ["surrogate: the value is a string with a lone surrogate"] = new(Expect.Refused, Call("Set", "{\"roomId\":\"ROOM\",\"key\":\"lone\",\"value\":\"a\\ud800b\"}")),
            ["surrogate: a property name in the value is a lone surrogate"] = new(Expect.Refused, Call("Set", "{\"roomId\":\"ROOM\",\"key\":\"lone\",\"value\":{\"\\udc00\":1}}")),
            ["surrogate: a Post body with a lone surrogate"] = new(Expect.Refused, Call("Post", "{\"roomId\":\"ROOM\",\"body\":\"\\ud800\"}")),
            ["surrogate: a Signal payload with a lone surrogate"] = new(Expect.Refused, Call("Signal", "{\"roomId\":\"ROOM\",\"payload\":\"\\ud800\"}")),

            // Invalid UTF-8. A text WebSocket message must be UTF-8 (the WebSocket layer checks); a binary one is not checked there.
            ["utf8: invalid bytes in a text message"] = new(Expect.Closed, Bytes(setHead + "\"key\":\"", [0xC3, 0x28, 0xFF], "\",\"value\":1}]}")),
            ["utf8: invalid bytes in the key of a binary message"] = new(Expect.Error, Bytes(setHead + "\"key\":\"", [0xC3, 0x28, 0xFF], "\",\"value\":1}]}"), MessageType: WebSocketMessageType.Binary),
            ["utf8: invalid bytes in the value of a binary message"] = new(Expect.Refused, Bytes(setHead + "\"key\":\"k\",\"value\":\"", [0xFF, 0xFE], "\"}]}"), MessageType: WebSocketMessageType.Binary),
            ["utf8: an overlong encoding in the value of a binary message"] = new(Expect.Refused, Bytes(setHead + "\"key\":\"k\",\"value\":\"", [0xC0, 0xAF], "\"}]}"), MessageType: WebSocketMessageType.Binary),
            ["utf8: an encoded surrogate in the value of a binary message"] = new(Expect.Refused, Bytes(setHead + "\"key\":\"k\",\"value\":\"", [0xED, 0xA0, 0x80], "\"}]}"), MessageType: WebSocketMessageType.Binary),

            // Binary messages.
            ["binary: a valid Set sent as a binary message"] = new(Expect.Result, Call("Set", "{\"roomId\":\"ROOM\",\"key\":\"bin\",\"value\":1}"), Stores: 1, MessageType: WebSocketMessageType.Binary),
            ["binary: 4 KiB of random bytes"] = new(Expect.Closed, (_, _) => RandomBytes(4096), MessageType: WebSocketMessageType.Binary),
            ["binary: only record separators"] = new(Expect.Closed, (_, _) => Enumerable.Repeat((byte)RS, 64).ToArray(), MessageType: WebSocketMessageType.Binary),
            ["binary: NUL bytes"] = new(Expect.Closed, (_, _) => [0, 0, 0, 0, (byte)RS], MessageType: WebSocketMessageType.Binary),

            // Protocol messages out of place.
            ["protocol: a second handshake"] = new(Expect.Closed, Text("{\"protocol\":\"json\",\"version\":1}")),
            ["protocol: an unknown message type"] = new(Expect.IgnoredOrClosed, Text("{\"type\":99,\"invocationId\":\"ID\"}")),
            ["protocol: a ping"] = new(Expect.Ignored, Text("{\"type\":6}")),
            ["protocol: a completion the server never asked for"] = new(Expect.Ignored, Text("{\"type\":3,\"invocationId\":\"ID\",\"result\":1}")),
            ["protocol: a stream item for no stream"] = new(Expect.Ignored, Text("{\"type\":2,\"invocationId\":\"ID\",\"item\":1}")),
            ["protocol: a cancel of nothing"] = new(Expect.Ignored, Text("{\"type\":5,\"invocationId\":\"ID\"}")),
            ["protocol: Set invoked as a stream"] = new(Expect.Error, Text("{\"type\":4,\"invocationId\":\"ID\",\"target\":\"Set\",\"arguments\":[{\"roomId\":\"ROOM\",\"key\":\"k\",\"value\":1}]}")),
            ["protocol: Set with stream ids"] = new(Expect.Error, Text("{\"type\":1,\"invocationId\":\"ID\",\"target\":\"Set\",\"arguments\":[{\"roomId\":\"ROOM\",\"key\":\"k\",\"value\":1}],\"streamIds\":[\"s1\"]}")),
            ["protocol: headers that are not strings"] = new(Expect.Closed, Text("{\"type\":1,\"invocationId\":\"ID\",\"headers\":{\"a\":{\"b\":1}},\"target\":\"Set\",\"arguments\":[{\"roomId\":\"ROOM\",\"key\":\"k\",\"value\":1}]}")),
            ["protocol: a bad Set without an invocation id"] = new(Expect.Ignored, Text("{\"type\":1,\"target\":\"Set\",\"arguments\":[{\"roomId\":\"ROOM\",\"key\":\"\",\"value\":1}]}")),
            ["protocol: a Close message from the client"] = new(Expect.Closed, Text("{\"type\":7}")),
        };
        return cases;
    }

    private static byte[] RandomBytes(int count)
    {
        var bytes = new byte[count];
        new Random(20261122).NextBytes(bytes);
        bytes[count / 2] = (byte)RS;
        bytes[^1] = (byte)RS;
        return bytes;
    }
}
