using System.Buffers;
using System.Text;
using CollabHub.Server.Backplane.Redis;

namespace CollabHub.Tests.Redis;

/// <summary>The RESP2 parser and writer on their own, over hand-made bytes split every way a socket could split them.</summary>
public sealed class RespParserTests
{
    // Every reply type, nesting, empties and nulls, and a bulk string holding CRLF and a '$'.
    private const string Replies =
        "+OK\r\n" +
        "-ERR unknown command 'FOO'\r\n" +
        ":0\r\n:-42\r\n:9223372036854775807\r\n" +
        "$5\r\nhello\r\n" +
        "$0\r\n\r\n" +
        "$-1\r\n" +
        "$8\r\na\r\n$b\r\nc\r\n" +
        "*0\r\n" +
        "*-1\r\n" +
        "*3\r\n:1\r\n$3\r\ntwo\r\n*2\r\n+three\r\n*1\r\n$-1\r\n" +
        "*2\r\n*0\r\n-WRONGTYPE nested error\r\n";

    private static readonly string[] Expected =
    [
        "OK",
        "(error) ERR unknown command 'FOO'",
        "(integer) 0", "(integer) -42", "(integer) 9223372036854775807",
        "\"hello\"",
        "\"\"",
        "(nil)",
        "\"a\r\n$b\r\nc\"",
        "[]",
        "(nil)",
        "[(integer) 1, \"two\", [three, [(nil)]]]",
        "[[], (error) WRONGTYPE nested error]",
    ];

    [Fact]
    public void Every_reply_type_parses_from_one_buffer()
    {
        var buffer = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(Replies));
        var parser = new RespParser();
        var parsed = new List<string>();
        while (parser.TryParse(ref buffer, out var value))
        {
            parsed.Add(value.ToString());
        }
        Assert.Equal(Expected, parsed);
        Assert.True(buffer.IsEmpty);
    }

    [Theory]
    [InlineData(1, 1)]   // bytes arrive one at a time, each in a segment of its own
    [InlineData(1, 7)]
    [InlineData(3, 2)]
    [InlineData(13, 5)]
    public void Replies_arriving_split_at_any_byte_parse_the_same_and_nothing_is_consumed_until_a_reply_is_whole(int bytesPerRead, int segmentSize)
    {
        var bytes = Encoding.UTF8.GetBytes(Replies);
        var parser = new RespParser();
        var parsed = new List<string>();
        var consumed = 0;
        for (var available = 0; ; available = Math.Min(available + bytesPerRead, bytes.Length))
        {
            var buffer = Segments(bytes.AsMemory(consumed, available - consumed), segmentSize);
            while (true)
            {
                var before = buffer;
                if (!parser.TryParse(ref buffer, out var value))
                {
                    Assert.Equal(before.Length, buffer.Length); // an incomplete reply is left where it was
                    break;
                }
                parsed.Add(value.ToString());
                consumed += (int)(before.Length - buffer.Length);
            }
            if (available == bytes.Length)
            {
                break;
            }
        }
        Assert.Equal(Expected, parsed);
        Assert.Equal(bytes.Length, consumed);
    }

    [Fact]
    public void An_incomplete_large_bulk_string_says_how_many_bytes_it_needs()
    {
        var parser = new RespParser();
        var buffer = new ReadOnlySequence<byte>("$1000\r\nabc"u8.ToArray());
        Assert.False(parser.TryParse(ref buffer, out _));
        Assert.Equal(7 + 1000 + 2, parser.BytesNeeded);

        var nested = new ReadOnlySequence<byte>("*2\r\n:1\r\n$10\r\n"u8.ToArray());
        Assert.False(parser.TryParse(ref nested, out _));
        Assert.Equal(13 + 10 + 2, parser.BytesNeeded);
    }

    [Fact]
    public void A_borrowing_parser_lends_bulk_strings_from_the_buffer_and_Detach_copies_them()
    {
        var bytes = "*2\r\n$3\r\nabc\r\n$2\r\nde\r\n"u8.ToArray();
        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.True(new RespParser { BorrowBulkStrings = true }.TryParse(ref buffer, out var value));

        var lent = value.AsArray()[0];
        var kept = value.Detach().AsArray()[0];
        bytes[8] = (byte)'X'; // the 'a' of "abc"
        Assert.Equal("Xbc", lent.AsString());
        Assert.Equal("abc", kept.AsString());
    }

    [Theory]
    [InlineData("?what\r\n", "not a RESP2 type")]
    [InlineData("%1\r\n+a\r\n+b\r\n", "RESP3")]
    [InlineData(":12x\r\n", "where an integer belongs")]
    [InlineData(":\r\n", "integer line of a wrong length")]
    [InlineData(":123456789012345678901234\r\n", "integer line")]
    [InlineData("$3\r\nabcd\r\n", "not followed by CRLF")]
    [InlineData("$-2\r\n", "bulk string of length -2")]
    [InlineData("*-5\r\n", "array of length -5")]
    [InlineData("$2000\r\n", "more than the 1024 allowed")]
    [InlineData("*1000\r\n", "more than fit")]
    public void Malformed_or_oversized_replies_are_protocol_errors(string input, string expected)
    {
        var parser = new RespParser { MaxReplyBytes = 1024 };
        var buffer = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(input));
        var error = Assert.Throws<RedisProtocolException>(() => parser.TryParse(ref buffer, out _));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_reply_that_grows_past_maxReplyBytes_without_ending_is_a_protocol_error()
    {
        var parser = new RespParser { MaxReplyBytes = 1024 };
        var endless = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("+" + new string('x', 2000)));
        Assert.Throws<RedisProtocolException>(() => parser.TryParse(ref endless, out _));

        var manySmall = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("*300\r\n" + string.Concat(Enumerable.Repeat(":1\r\n", 299))));
        Assert.Throws<RedisProtocolException>(() => parser.TryParse(ref manySmall, out _));
    }

    [Fact]
    public void Arrays_nested_deeper_than_the_limit_are_a_protocol_error()
    {
        var parser = new RespParser { MaxDepth = 4 };
        var ok = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("*1\r\n", 4)) + ":1\r\n"));
        Assert.True(parser.TryParse(ref ok, out _));
        var deep = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("*1\r\n", 5)) + ":1\r\n"));
        Assert.Throws<RedisProtocolException>(() => parser.TryParse(ref deep, out _));
    }

    [Fact]
    public void Commands_are_written_as_arrays_of_bulk_strings_and_their_length_is_known_beforehand()
    {
        RedisArg[] args = ["k€y", 42L, -7, long.MinValue, new byte[] { 0, 13, 10, 255 }, ReadOnlyMemory<byte>.Empty, ""];
        var writer = new ArrayBufferWriter<byte>();

        var written = RespWriter.WriteCommand(writer, "SET", args);

        var expected = "*8\r\n$3\r\nSET\r\n$5\r\nk\u00e2\u0082\u00acy\r\n$2\r\n42\r\n$2\r\n-7\r\n$20\r\n-9223372036854775808\r\n$4\r\n\0\r\n\u00ff\r\n$0\r\n\r\n$0\r\n\r\n";
        Assert.Equal(expected, Encoding.Latin1.GetString(writer.WrittenSpan));
        Assert.Equal(writer.WrittenCount, written);
        Assert.Equal(written, RespWriter.GetCommandLength("SET", args));
    }

    [Fact]
    public void RespValue_helpers_convert_what_they_can_and_refuse_the_rest_clearly()
    {
        Assert.Equal(12, RespValue.BulkString("12"u8.ToArray()).AsInt64());
        Assert.Equal(-3, RespValue.SimpleString("-3").AsInt64());
        Assert.Equal("5", RespValue.Integer(5).AsString());
        Assert.Null(RespValue.NullBulkString.AsString());
        Assert.True(RespValue.NullArray.IsNull);
        Assert.Empty(RespValue.Array([]).AsArray());
        Assert.True(RespValue.Error("ERR x").IsError);
        Assert.Equal("ERR x", Assert.Throws<RedisServerException>(() => RespValue.Error("ERR x").AsInt64()).Message);
        Assert.Throws<InvalidOperationException>(() => RespValue.NullArray.AsArray());
        Assert.Throws<InvalidOperationException>(() => RespValue.NullBulkString.AsInt64());
        Assert.Throws<InvalidOperationException>(() => RespValue.Array([]).AsString());
        Assert.Throws<InvalidOperationException>(() => RespValue.BulkString("x"u8.ToArray()).AsInt64());
    }

    private static ReadOnlySequence<byte> Segments(ReadOnlyMemory<byte> bytes, int segmentSize)
    {
        if (bytes.Length <= segmentSize)
        {
            return new ReadOnlySequence<byte>(bytes);
        }
        var first = new Segment(bytes[..segmentSize], 0);
        var last = first;
        for (var offset = segmentSize; offset < bytes.Length; offset += segmentSize)
        {
            last = last.Append(bytes[offset..Math.Min(offset + segmentSize, bytes.Length)]);
        }
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
