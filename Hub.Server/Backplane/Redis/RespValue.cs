using System.Globalization;
using System.Text;

namespace CollabHub.Server.Backplane.Redis;

/// <summary>The five kinds of RESP2 reply.</summary>
internal enum RespType : byte
{
    SimpleString = 1,
    Error,
    Integer,
    BulkString,
    Array,
}

/// <summary>
/// One RESP2 reply: a simple string, an error, an integer, a bulk string (bytes, or null) or an array (of replies,
/// or null). A small struct so that the common small replies cost no allocation beyond their payload.
/// </summary>
/// <remarks>
/// Error replies to a command surface as <see cref="RedisServerException"/>; a <see cref="RespType.Error"/> value is
/// only seen nested inside an array (e.g. from EXEC or EVAL).
/// </remarks>
internal readonly struct RespValue
{
    private static readonly RespValue[] EmptyArray = [];

    // string for simple strings and errors, RespValue[] for arrays; bulk strings keep their bytes in _bytes.
    private readonly object? _object;
    private readonly ReadOnlyMemory<byte> _bytes;
    private readonly long _integer;

    private RespValue(RespType type, object? value, ReadOnlyMemory<byte> bytes, long integer, bool isNull)
    {
        Type = type;
        _object = value;
        _bytes = bytes;
        _integer = integer;
        IsNull = isNull;
    }

    public RespType Type { get; }

    /// <summary>True for the null bulk string (<c>$-1</c>) and the null array (<c>*-1</c>).</summary>
    public bool IsNull { get; }

    public bool IsError => Type == RespType.Error;

    public static RespValue NullBulkString { get; } = new(RespType.BulkString, null, default, 0, isNull: true);

    public static RespValue NullArray { get; } = new(RespType.Array, null, default, 0, isNull: true);

    public static RespValue SimpleString(string value) => new(RespType.SimpleString, value ?? throw new ArgumentNullException(nameof(value)), default, 0, false);

    public static RespValue Error(string message) => new(RespType.Error, message ?? throw new ArgumentNullException(nameof(message)), default, 0, false);

    public static RespValue Integer(long value) => new(RespType.Integer, null, default, value, false);

    public static RespValue BulkString(ReadOnlyMemory<byte> value) => new(RespType.BulkString, null, value, 0, false);

    public static RespValue Array(RespValue[] items) => new(RespType.Array, items.Length == 0 ? EmptyArray : items, default, 0, false);

    /// <summary>
    /// The text of a simple string, error or bulk string (UTF-8), or an integer in invariant digits; null for a null
    /// bulk string. Throws for arrays.
    /// </summary>
    public string? AsString() => Type switch
    {
        RespType.SimpleString or RespType.Error => (string)_object!,
        RespType.BulkString => IsNull ? null : Encoding.UTF8.GetString(_bytes.Span),
        RespType.Integer => _integer.ToString(CultureInfo.InvariantCulture),
        _ => throw new InvalidOperationException($"A RESP {Type} is not a string."),
    };

    /// <summary>
    /// An integer reply, or a simple or bulk string holding one (as GET returns a counter). Throws for anything else;
    /// an error value throws it as a <see cref="RedisServerException"/>.
    /// </summary>
    public long AsInt64()
    {
        switch (Type)
        {
            case RespType.Integer:
                return _integer;
            case RespType.Error:
                throw new RedisServerException((string)_object!);
            case RespType.SimpleString when long.TryParse((string)_object!, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var parsed):
                return parsed;
            case RespType.BulkString when !IsNull && long.TryParse(_bytes.Span, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var parsed):
                return parsed;
            default:
                throw new InvalidOperationException($"A RESP {(IsNull ? "null " : "")}{Type} ({this}) is not an integer.");
        }
    }

    /// <summary>The bytes of a bulk string (or of a simple string, as UTF-8). Throws for a null bulk string and other kinds.</summary>
    public ReadOnlyMemory<byte> AsBytes() => Type switch
    {
        RespType.BulkString when !IsNull => _bytes,
        RespType.SimpleString => Encoding.UTF8.GetBytes((string)_object!),
        _ => throw new InvalidOperationException($"A RESP {(IsNull ? "null " : "")}{Type} has no bytes."),
    };

    /// <summary>The items of an array. Throws for a null array (check <see cref="IsNull"/>) and other kinds.</summary>
    public IReadOnlyList<RespValue> AsArray() => Type == RespType.Array && !IsNull
        ? (RespValue[])_object!
        : throw new InvalidOperationException($"A RESP {(IsNull ? "null " : "")}{Type} is not an array.");

    /// <summary>
    /// The same value with every bulk string copied into memory of its own. A parser that lends bulk strings from its
    /// read buffer (<see cref="RespParser.BorrowBulkStrings"/>) produces values that are valid only until the buffer
    /// moves on; this makes one that can be kept.
    /// </summary>
    public RespValue Detach() => Type switch
    {
        RespType.BulkString when !IsNull => BulkString(_bytes.ToArray()),
        RespType.Array when !IsNull => Array(((RespValue[])_object!).Select(item => item.Detach()).ToArray()),
        _ => this,
    };

    /// <summary>A readable rendering for logs and test failures (bulk strings as text, cut after 200 characters).</summary>
    public override string ToString() => Type switch
    {
        _ when IsNull => "(nil)",
        RespType.SimpleString => (string)_object!,
        RespType.Error => "(error) " + (string)_object!,
        RespType.Integer => "(integer) " + _integer.ToString(CultureInfo.InvariantCulture),
        RespType.BulkString => Quote(Encoding.UTF8.GetString(_bytes.Span[..Math.Min(_bytes.Length, 200)]), _bytes.Length > 200),
        RespType.Array => "[" + string.Join(", ", ((RespValue[])_object!).Select(item => item.ToString())) + "]",
        _ => "(unset)",
    };

    private static string Quote(string text, bool cut) => "\"" + text + (cut ? "...\"" : "\"");
}
