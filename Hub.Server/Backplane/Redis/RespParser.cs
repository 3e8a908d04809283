using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace CollabHub.Server.Backplane.Redis;

/// <summary>
/// Reads RESP2 replies from a growing buffer (a <see cref="System.IO.Pipelines.PipeReader"/>'s), one complete reply
/// at a time. A reply split across reads is simply not there yet: nothing is consumed until all of it has arrived.
/// </summary>
/// <remarks>
/// Each attempt first walks the buffered bytes without allocating, to learn whether a whole reply is present, and
/// only then builds it; so a large array arriving in many reads costs no garbage per read, and an array's length
/// can never make us allocate more than the bytes actually received. Malformed input throws
/// <see cref="RedisProtocolException"/>; the connection cannot recover its framing after that and must be closed.
/// Not thread-safe: one parser per reader loop.
/// </remarks>
internal sealed class RespParser
{
    private const int MaxIntegerLineLength = 20; // "-9223372036854775808"

    private static readonly string[] CommonSimpleStrings = ["OK", "PONG", "QUEUED"];

    private long _bytesNeeded;

    /// <summary>The largest reply accepted, in bytes; larger is a protocol error. Default 64 MiB (Redis's own bulk limit is 512 MB).</summary>
    public long MaxReplyBytes { get; init; } = 64 * 1024 * 1024;

    /// <summary>The deepest nesting of arrays accepted. Default 512.</summary>
    public int MaxDepth { get; init; } = 512;

    /// <summary>
    /// When true, a bulk string that lies in one buffer segment is returned as a view of the buffer, not a copy: it is
    /// valid only until the buffer is advanced past it (see <see cref="RespValue.Detach"/>). Default false.
    /// </summary>
    public bool BorrowBulkStrings { get; init; }

    /// <summary>
    /// After <see cref="TryParse"/> returned false: how many bytes, counted from the start of the buffer, the reply
    /// needs at least, when a bulk string's declared length says so; otherwise 0. A reader can wait for that much
    /// instead of waking on every packet of a large value.
    /// </summary>
    public long BytesNeeded => _bytesNeeded;

    /// <summary>
    /// Parses one complete reply from the start of <paramref name="buffer"/> and slices it off; or, if the reply is
    /// not complete yet, leaves the buffer as it is and returns false.
    /// </summary>
    public bool TryParse(ref ReadOnlySequence<byte> buffer, out RespValue value)
    {
        _bytesNeeded = 0;
        var scan = new SequenceReader<byte>(buffer);
        if (!Read(ref scan, depth: 0, build: false, out _))
        {
            if (buffer.Length > MaxReplyBytes || _bytesNeeded > MaxReplyBytes)
            {
                throw new RedisProtocolException($"A reply from Redis is larger than the {MaxReplyBytes} bytes allowed (maxReplyBytes).");
            }
            value = default;
            return false;
        }
        if (scan.Consumed > MaxReplyBytes)
        {
            throw new RedisProtocolException($"A reply from Redis is larger than the {MaxReplyBytes} bytes allowed (maxReplyBytes).");
        }
        var reply = buffer.Slice(0, scan.Consumed);
        var build = new SequenceReader<byte>(reply);
        Read(ref build, depth: 0, build: true, out value);
        buffer = buffer.Slice(scan.Consumed);
        return true;
    }

    // One walk serves both passes: with build false it only checks that a whole reply is there (and throws on bad
    // framing); with build true, over a reply known to be complete, it also makes the values.
    private bool Read(ref SequenceReader<byte> reader, int depth, bool build, out RespValue value)
    {
        value = default;
        if (!reader.TryRead(out var type))
        {
            return false;
        }
        switch (type)
        {
            case (byte)'+':
            case (byte)'-':
                if (!reader.TryReadTo(out ReadOnlySequence<byte> line, "\r\n"u8))
                {
                    return false;
                }
                if (build)
                {
                    var text = DecodeLine(line);
                    value = type == '+' ? RespValue.SimpleString(text) : RespValue.Error(text);
                }
                return true;

            case (byte)':':
                if (!TryReadInteger(ref reader, out var integer))
                {
                    return false;
                }
                value = RespValue.Integer(integer);
                return true;

            case (byte)'$':
                return ReadBulkString(ref reader, build, out value);

            case (byte)'*':
                return ReadArray(ref reader, depth, build, out value);

            default:
                throw new RedisProtocolException(type is (byte)'_' or (byte)',' or (byte)'#' or (byte)'%' or (byte)'~' or (byte)'>' or (byte)'=' or (byte)'(' or (byte)'!' or (byte)'|'
                    ? $"Redis sent a RESP3 reply (type '{(char)type}'), but this client speaks RESP2."
                    : $"Redis sent a reply starting with byte 0x{type:X2}, which is not a RESP2 type.");
        }
    }

    private bool ReadBulkString(ref SequenceReader<byte> reader, bool build, out RespValue value)
    {
        value = default;
        if (!TryReadInteger(ref reader, out var length))
        {
            return false;
        }
        if (length == -1)
        {
            value = RespValue.NullBulkString;
            return true;
        }
        if (length < -1)
        {
            throw new RedisProtocolException($"Redis sent a bulk string of length {length}.");
        }
        if (length > MaxReplyBytes)
        {
            throw new RedisProtocolException($"Redis sent a bulk string of {length} bytes, more than the {MaxReplyBytes} allowed (maxReplyBytes).");
        }
        if (reader.Remaining < length + 2)
        {
            _bytesNeeded = reader.Consumed + length + 2;
            return false;
        }
        if (build)
        {
            var bytes = reader.UnreadSequence.Slice(0, length);
            value = RespValue.BulkString(BorrowBulkStrings && bytes.IsSingleSegment ? bytes.First : bytes.ToArray());
        }
        reader.Advance(length);
        if (!reader.IsNext("\r\n"u8, advancePast: true))
        {
            throw new RedisProtocolException("Redis sent a bulk string not followed by CRLF.");
        }
        return true;
    }

    private bool ReadArray(ref SequenceReader<byte> reader, int depth, bool build, out RespValue value)
    {
        value = default;
        if (!TryReadInteger(ref reader, out var count))
        {
            return false;
        }
        if (count == -1)
        {
            value = RespValue.NullArray;
            return true;
        }
        if (count < -1)
        {
            throw new RedisProtocolException($"Redis sent an array of length {count}.");
        }
        if (count > MaxReplyBytes / 3)
        {
            // Every item takes at least three bytes ("+\r\n"): such an array could never fit.
            throw new RedisProtocolException($"Redis sent an array of {count} items, more than fit in the {MaxReplyBytes} bytes allowed (maxReplyBytes).");
        }
        if (depth >= MaxDepth)
        {
            throw new RedisProtocolException($"Redis sent arrays nested more than {MaxDepth} deep.");
        }
        // Allocating by the declared count is safe only in the build pass, which runs once the items are all here.
        var items = build ? new RespValue[count] : null;
        for (var i = 0; i < count; i++)
        {
            if (!Read(ref reader, depth + 1, build, out var item))
            {
                return false;
            }
            if (items is not null)
            {
                items[i] = item;
            }
        }
        if (items is not null)
        {
            value = RespValue.Array(items);
        }
        return true;
    }

    private static bool TryReadInteger(ref SequenceReader<byte> reader, out long value)
    {
        value = 0;
        if (!reader.TryReadTo(out ReadOnlySequence<byte> line, "\r\n"u8))
        {
            if (reader.Remaining > MaxIntegerLineLength + 1)
            {
                throw new RedisProtocolException("Redis sent an integer line that does not end within 21 bytes.");
            }
            return false;
        }
        Span<byte> digits = stackalloc byte[MaxIntegerLineLength];
        if (line.Length is 0 or > MaxIntegerLineLength)
        {
            throw new RedisProtocolException("Redis sent an integer line of a wrong length.");
        }
        line.CopyTo(digits);
        digits = digits[..(int)line.Length];
        if (!Utf8Parser.TryParse(digits, out value, out var consumed) || consumed != digits.Length)
        {
            throw new RedisProtocolException($"Redis sent '{Encoding.ASCII.GetString(digits)}' where an integer belongs.");
        }
        return true;
    }

    private static string DecodeLine(ReadOnlySequence<byte> line)
    {
        if (line.IsSingleSegment)
        {
            var span = line.FirstSpan;
            foreach (var common in CommonSimpleStrings)
            {
                if (span.Length == common.Length && Ascii.Equals(span, common))
                {
                    return common;
                }
            }
            return Encoding.UTF8.GetString(span);
        }
        return Encoding.UTF8.GetString(line);
    }
}
