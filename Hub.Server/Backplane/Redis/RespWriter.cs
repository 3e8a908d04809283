using System.Buffers;
using System.Globalization;
using System.Text;

namespace CollabHub.Server.Backplane.Redis;

/// <summary>
/// Writes commands in RESP2's request form, an array of bulk strings (<c>*2\r\n$3\r\nGET\r\n$1\r\nk\r\n</c>),
/// straight into the caller's buffer: text is encoded in place, integers formatted in place, nothing is allocated.
/// </summary>
internal static class RespWriter
{
    /// <summary>How many bytes <see cref="WriteCommand"/> will write for this command.</summary>
    public static long GetCommandLength(string command, ReadOnlySpan<RedisArg> args)
    {
        long length = 1 + DigitCount(args.Length + 1) + 2 + GetBulkLength(Encoding.UTF8.GetByteCount(command));
        foreach (var arg in args)
        {
            length += GetBulkLength(arg.ByteLength);
        }
        return length;
    }

    /// <summary>Writes one command; returns the number of bytes written.</summary>
    public static long WriteCommand(IBufferWriter<byte> writer, string command, ReadOnlySpan<RedisArg> args)
    {
        ArgumentNullException.ThrowIfNull(command);
        long written = WriteHeader(writer, (byte)'*', args.Length + 1);
        var commandLength = Encoding.UTF8.GetByteCount(command);
        written += WriteHeader(writer, (byte)'$', commandLength);
        var span = writer.GetSpan(commandLength + 2);
        Encoding.UTF8.GetBytes(command, span);
        "\r\n"u8.CopyTo(span[commandLength..]);
        writer.Advance(commandLength + 2);
        written += commandLength + 2;
        foreach (var arg in args)
        {
            var length = arg.ByteLength;
            written += WriteHeader(writer, (byte)'$', length);
            span = writer.GetSpan(length + 2);
            arg.CopyTo(span);
            "\r\n"u8.CopyTo(span[length..]);
            writer.Advance(length + 2);
            written += length + 2;
        }
        return written;
    }

    internal static int DigitCount(long value)
    {
        var digits = value < 0 ? 2 : 1; // the sign, and at least one digit
        var rest = value < 0 ? -(value / 10) : value / 10; // divide first: -long.MinValue overflows
        while (rest > 0)
        {
            digits++;
            rest /= 10;
        }
        return digits;
    }

    private static long GetBulkLength(int payloadLength) => 1 + DigitCount(payloadLength) + 2 + payloadLength + 2;

    private static int WriteHeader(IBufferWriter<byte> writer, byte prefix, int count)
    {
        var span = writer.GetSpan(16);
        span[0] = prefix;
        count.TryFormat(span[1..], out var digits, default, CultureInfo.InvariantCulture);
        span[1 + digits] = (byte)'\r';
        span[2 + digits] = (byte)'\n';
        writer.Advance(3 + digits);
        return 3 + digits;
    }
}
