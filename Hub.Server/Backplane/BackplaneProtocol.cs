using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;

namespace CollabHub.Server.Backplane;

/// <summary>
/// The backplane's wire format: what one instance publishes to Redis for the others. Binary, with a leading
/// kind byte so the format can grow (a reader drops a kind it does not know, logging it). Strings are
/// UTF-8 with a varint length prefix; counts and ids are varints.
/// <code>
/// Invocation (kind 1):   origin-instance, excluded-count, excluded-connection-id*, protocol-count, (protocol-name, payload-length, payload)*
/// GroupCommand (kind 2): action (1 add, 2 remove), ack-id, origin-instance, connection-id, group-name
/// Ack (kind 3):          ack-id
/// </code>
/// An invocation carries the hub message already serialized by every protocol the server speaks (JSON, and any
/// other registered), so receivers write the bytes to their connections without serializing again.
/// </summary>
internal static class BackplaneProtocol
{
    public const byte InvocationKind = 1;
    public const byte GroupCommandKind = 2;
    public const byte AckKind = 3;

    public static byte[] WriteInvocation(string origin, SerializedHubMessage message, IReadOnlyList<IHubProtocol> protocols, IReadOnlyList<string>? excluded)
    {
        var writer = new ArrayBufferWriter<byte>(256);
        writer.Write([InvocationKind]);
        WriteString(writer, origin);
        WriteVarint(writer, (ulong)(excluded?.Count ?? 0));
        foreach (var id in excluded ?? [])
        {
            WriteString(writer, id);
        }
        WriteVarint(writer, (ulong)protocols.Count);
        foreach (var protocol in protocols)
        {
            var payload = message.GetSerializedMessage(protocol);
            WriteString(writer, protocol.Name);
            WriteVarint(writer, (ulong)payload.Length);
            writer.Write(payload.Span);
        }
        return writer.WrittenSpan.ToArray();
    }

    /// <summary>Reads an invocation; the message's payloads are copied, so they outlive <paramref name="data"/>.</summary>
    public static BackplaneInvocation ReadInvocation(ReadOnlySpan<byte> data)
    {
        var reader = new SpanReader(data);
        reader.ExpectKind(InvocationKind);
        var origin = reader.ReadString();
        var excludedCount = reader.ReadCount();
        var excluded = excludedCount == 0 ? null : new HashSet<string>(excludedCount, StringComparer.Ordinal);
        for (var i = 0; i < excludedCount; i++)
        {
            excluded!.Add(reader.ReadString());
        }
        var protocolCount = reader.ReadCount();
        var messages = new SerializedMessage[protocolCount];
        for (var i = 0; i < protocolCount; i++)
        {
            var name = reader.ReadString();
            messages[i] = new SerializedMessage(name, reader.ReadBytes(reader.ReadCount()).ToArray());
        }
        return new BackplaneInvocation(origin, excluded, new SerializedHubMessage(messages));
    }

    public static byte[] WriteGroupCommand(GroupCommand command)
    {
        var writer = new ArrayBufferWriter<byte>(128);
        writer.Write([GroupCommandKind, (byte)command.Action]);
        WriteVarint(writer, (ulong)command.AckId);
        WriteString(writer, command.Origin);
        WriteString(writer, command.ConnectionId);
        WriteString(writer, command.GroupName);
        return writer.WrittenSpan.ToArray();
    }

    public static GroupCommand ReadGroupCommand(ReadOnlySpan<byte> data)
    {
        var reader = new SpanReader(data);
        reader.ExpectKind(GroupCommandKind);
        var action = (GroupAction)reader.ReadByte();
        if (action is not (GroupAction.Add or GroupAction.Remove))
        {
            throw new InvalidDataException($"Unknown group action {(byte)action}.");
        }
        return new GroupCommand(action, (long)reader.ReadVarint(), reader.ReadString(), reader.ReadString(), reader.ReadString());
    }

    public static byte[] WriteAck(long ackId)
    {
        var writer = new ArrayBufferWriter<byte>(16);
        writer.Write([AckKind]);
        WriteVarint(writer, (ulong)ackId);
        return writer.WrittenSpan.ToArray();
    }

    public static long ReadAck(ReadOnlySpan<byte> data)
    {
        var reader = new SpanReader(data);
        reader.ExpectKind(AckKind);
        return (long)reader.ReadVarint();
    }

    private static void WriteString(ArrayBufferWriter<byte> writer, string value)
    {
        var length = Encoding.UTF8.GetByteCount(value);
        WriteVarint(writer, (ulong)length);
        Encoding.UTF8.GetBytes(value, writer.GetSpan(length));
        writer.Advance(length);
    }

    private static void WriteVarint(ArrayBufferWriter<byte> writer, ulong value)
    {
        var span = writer.GetSpan(10);
        var i = 0;
        while (value >= 0x80)
        {
            span[i++] = (byte)(value | 0x80);
            value >>= 7;
        }
        span[i++] = (byte)value;
        writer.Advance(i);
    }

    /// <summary>Reads the format above, throwing <see cref="InvalidDataException"/> on anything truncated or out of range.</summary>
    private ref struct SpanReader(ReadOnlySpan<byte> data)
    {
        private const int MaxCount = 64 * 1024 * 1024;
        private ReadOnlySpan<byte> _data = data;

        public void ExpectKind(byte kind)
        {
            var actual = ReadByte();
            if (actual != kind)
            {
                throw new InvalidDataException($"Expected a backplane message of kind {kind}, got {actual}.");
            }
        }

        public byte ReadByte()
        {
            if (_data.IsEmpty)
            {
                throw new InvalidDataException("Truncated backplane message.");
            }
            var value = _data[0];
            _data = _data[1..];
            return value;
        }

        public ulong ReadVarint()
        {
            ulong value = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                var b = ReadByte();
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    return value;
                }
            }
            throw new InvalidDataException("Malformed varint in backplane message.");
        }

        public int ReadCount()
        {
            var count = ReadVarint();
            return count <= MaxCount ? (int)count : throw new InvalidDataException($"Count {count} out of range in backplane message.");
        }

        public ReadOnlySpan<byte> ReadBytes(int length)
        {
            if (_data.Length < length)
            {
                throw new InvalidDataException("Truncated backplane message.");
            }
            var bytes = _data[..length];
            _data = _data[length..];
            return bytes;
        }

        public string ReadString() => Encoding.UTF8.GetString(ReadBytes(ReadCount()));
    }
}

/// <summary>A hub message published by <see cref="Origin"/>, for every target connection not in <see cref="Excluded"/>.</summary>
internal sealed record BackplaneInvocation(string Origin, HashSet<string>? Excluded, SerializedHubMessage Message);

internal enum GroupAction : byte
{
    Add = 1,
    Remove = 2,
}

/// <summary>Asks the instance that holds <see cref="ConnectionId"/> to add it to or remove it from a group, and to ack.</summary>
internal sealed record GroupCommand(GroupAction Action, long AckId, string Origin, string ConnectionId, string GroupName);
