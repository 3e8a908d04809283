using System.Globalization;
using System.Text;

namespace CollabHub.Server.Backplane.Redis;

/// <summary>
/// One argument of a Redis command: text (sent as UTF-8), bytes, or an integer (sent as its decimal digits, as
/// Redis expects). Converts implicitly from <see cref="string"/>, <see cref="long"/> (and so <see cref="int"/>),
/// <see cref="ReadOnlyMemory{T}"/> and byte arrays, so calls read like the command: <c>ExecuteAsync("SET", key, 42)</c>.
/// </summary>
internal readonly struct RedisArg
{
    private readonly string? _text;
    private readonly ReadOnlyMemory<byte> _bytes;
    private readonly long _integer;
    private readonly Kind _kind;

    private RedisArg(string text)
    {
        _text = text;
        _kind = Kind.Text;
    }

    private RedisArg(ReadOnlyMemory<byte> bytes)
    {
        _bytes = bytes;
        _kind = Kind.Bytes;
    }

    private RedisArg(long integer)
    {
        _integer = integer;
        _kind = Kind.Integer;
    }

    private enum Kind : byte
    {
        Integer,
        Text,
        Bytes,
    }

    public static implicit operator RedisArg(string value) => new(value ?? throw new ArgumentNullException(nameof(value), "A Redis argument cannot be null."));

    public static implicit operator RedisArg(long value) => new(value);

    public static implicit operator RedisArg(ReadOnlyMemory<byte> value) => new(value);

    public static implicit operator RedisArg(byte[] value) => new(value ?? throw new ArgumentNullException(nameof(value), "A Redis argument cannot be null."));

    /// <summary>The length of the argument's bytes on the wire (without the bulk-string framing).</summary>
    public int ByteLength => _kind switch
    {
        Kind.Text => Encoding.UTF8.GetByteCount(_text!),
        Kind.Bytes => _bytes.Length,
        _ => RespWriter.DigitCount(_integer),
    };

    /// <summary>Writes the argument's bytes into <paramref name="destination"/>, which is at least <see cref="ByteLength"/> long.</summary>
    internal int CopyTo(Span<byte> destination)
    {
        switch (_kind)
        {
            case Kind.Text:
                return Encoding.UTF8.GetBytes(_text, destination);
            case Kind.Bytes:
                _bytes.Span.CopyTo(destination);
                return _bytes.Length;
            default:
                _integer.TryFormat(destination, out var written, default, CultureInfo.InvariantCulture);
                return written;
        }
    }

    public override string ToString() => _kind switch
    {
        Kind.Text => _text!,
        Kind.Bytes => $"<{_bytes.Length} bytes>",
        _ => _integer.ToString(CultureInfo.InvariantCulture),
    };
}
