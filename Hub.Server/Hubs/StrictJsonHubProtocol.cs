using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.Options;

namespace CollabHub.Server.Hubs;

/// <summary>
/// SignalR's JSON protocol, except that a message of an unknown type closes the connection. SignalR itself skips
/// such a message in a way that stops the connection from processing anything after it (dotnet/aspnetcore#69285):
/// a client sending <c>{"type":99}</c> would hang its own connection until the server's timeout.
/// </summary>
internal sealed class StrictJsonHubProtocol(IOptions<JsonHubProtocolOptions> options) : IHubProtocol
{
    private readonly JsonHubProtocol _inner = new(options);

    public string Name => _inner.Name;

    public int Version => _inner.Version;

    public TransferFormat TransferFormat => _inner.TransferFormat;

    public bool TryParseMessage(ref ReadOnlySequence<byte> input, IInvocationBinder binder, [NotNullWhen(true)] out HubMessage? message)
    {
        var before = input.Length;
        if (_inner.TryParseMessage(ref input, binder, out message))
        {
            return true;
        }
        // "No message" with input consumed is a skipped unknown message, not a partial one: refuse it.
        return input.Length == before
            ? false
            : throw new InvalidDataException($"Unknown or unsupported message ({before - input.Length} bytes); closing the connection.");
    }

    public void WriteMessage(HubMessage message, IBufferWriter<byte> output) => _inner.WriteMessage(message, output);

    public ReadOnlyMemory<byte> GetMessageBytes(HubMessage message) => _inner.GetMessageBytes(message);

    public bool IsVersionSupported(int version) => _inner.IsVersionSupported(version);
}
