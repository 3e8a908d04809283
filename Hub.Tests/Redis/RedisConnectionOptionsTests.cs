using CollabHub.Server.Backplane.Redis;

namespace CollabHub.Tests.Redis;

/// <summary>StackExchange.Redis-style connection strings: what parses, to what, and what is refused with which message.</summary>
public sealed class RedisConnectionOptionsTests
{
    [Theory]
    // input, expected endpoints, then what ToString() gives back (the normalised string, password masked)
    [InlineData("127.0.0.1:6379", "127.0.0.1:6379", "127.0.0.1:6379")]
    [InlineData("localhost", "localhost:6379", "localhost:6379")]
    [InlineData("redis.internal:7000,redis2.internal", "redis.internal:7000 redis2.internal:6379", "redis.internal:7000,redis2.internal:6379")]
    [InlineData("[::1]:6380", "[::1]:6380", "[::1]:6380")]
    [InlineData("[::1]", "[::1]:6379", "[::1]:6379")]
    [InlineData("::1", "[::1]:6379", "[::1]:6379")]
    [InlineData(" 10.0.0.5:6379 , ssl=True ,", "10.0.0.5:6379", "10.0.0.5:6379,ssl=true")]
    [InlineData("h:1,password=s3cret,user=alice", "h:1", "h:1,user=alice,password=*****")]
    [InlineData("h,PASSWORD=a=b=c", "h:6379", "h:6379,password=*****")]
    [InlineData("h,ssl=true,sslHost=redis.example.com,defaultDatabase=3,name=hub-1", "h:6379", "h:6379,ssl=true,sslHost=redis.example.com,defaultDatabase=3,name=hub-1")]
    [InlineData("h,connectTimeout=250,syncTimeout=1000,abortConnect=false", "h:6379", "h:6379,connectTimeout=250")]
    [InlineData("h,maxPendingCommands=5,maxOutgoingBytes=4096,maxReplyBytes=1048576", "h:6379", "h:6379,maxPendingCommands=5,maxOutgoingBytes=4096,maxReplyBytes=1048576")]
    [InlineData("h,keepAlive=0,reconnectDelay=10,reconnectMaxDelay=20", "h:6379", "h:6379,keepAlive=0,reconnectDelay=10,reconnectMaxDelay=20")]
    [InlineData("h,password=", "h:6379", "h:6379")]
    [InlineData("h,defaultDatabase=1,defaultDatabase=2", "h:6379", "h:6379,defaultDatabase=2")]
    public void Valid_connection_strings_parse_and_print_back_without_the_password(string input, string endPoints, string printed)
    {
        var options = RedisConnectionOptions.Parse(input);

        Assert.Equal(endPoints, string.Join(' ', options.EndPoints));
        Assert.Equal(printed, options.ToString());
        // What ToString prints parses again to the same settings (bar the password, which it masks).
        var reparsed = RedisConnectionOptions.Parse(printed);
        Assert.Equal(options.ToString(), reparsed.ToString());
    }

    [Fact]
    public void Every_key_lands_in_its_property()
    {
        var options = RedisConnectionOptions.Parse(
            "h:1,password=pw,user=u,ssl=true,sslHost=sni,defaultDatabase=7,connectTimeout=1234,name=n,maxPendingCommands=9," +
            "maxOutgoingBytes=99,maxReplyBytes=2048,keepAlive=3,reconnectDelay=11,reconnectMaxDelay=22");

        Assert.Equal([new RedisEndPoint("h", 1)], options.EndPoints);
        Assert.Equal("pw", options.Password);
        Assert.Equal("u", options.User);
        Assert.True(options.Ssl);
        Assert.Equal("sni", options.SslHost);
        Assert.Equal(7, options.DefaultDatabase);
        Assert.Equal(TimeSpan.FromMilliseconds(1234), options.ConnectTimeout);
        Assert.Equal("n", options.ClientName);
        Assert.Equal(9, options.MaxPendingCommands);
        Assert.Equal(99, options.MaxOutgoingBytes);
        Assert.Equal(2048, options.MaxReplyBytes);
        Assert.Equal(TimeSpan.FromSeconds(3), options.KeepAlive);
        Assert.Equal(TimeSpan.FromMilliseconds(11), options.ReconnectDelay);
        Assert.Equal(TimeSpan.FromMilliseconds(22), options.ReconnectMaxDelay);
    }

    [Fact]
    public void Defaults_are_those_documented()
    {
        var options = RedisConnectionOptions.Parse("h");

        Assert.Null(options.Password);
        Assert.Null(options.User);
        Assert.False(options.Ssl);
        Assert.Null(options.DefaultDatabase);
        Assert.Equal(TimeSpan.FromSeconds(5), options.ConnectTimeout);
        Assert.Equal(10_000, options.MaxPendingCommands);
        Assert.Equal(8 * 1024 * 1024, options.MaxOutgoingBytes);
        Assert.Equal(64 * 1024 * 1024, options.MaxReplyBytes);
        Assert.Equal(TimeSpan.FromSeconds(15), options.KeepAlive);
        Assert.Equal(TimeSpan.FromMilliseconds(100), options.ReconnectDelay);
        Assert.Equal(TimeSpan.FromSeconds(5), options.ReconnectMaxDelay);
    }

    [Theory]
    [InlineData("h,colour=blue", "unknown key 'colour'")]
    [InlineData("h,allowAdmin=true", "unknown key 'allowAdmin'")]
    [InlineData("", "no endpoint")]
    [InlineData("password=x", "no endpoint")]
    [InlineData("h:0", "invalid port '0'")]
    [InlineData("h:65536", "invalid port '65536'")]
    [InlineData("h:port", "invalid port 'port'")]
    [InlineData("h:", "invalid port ''")]
    [InlineData(":6379", "no valid host")]
    [InlineData("[::1", "'[' without ']'")]
    [InlineData("[::1]x", "not ':port'")]
    [InlineData("[redis]:6379", "not an IPv6 address")]
    [InlineData("::1:6379:x", "write IPv6 addresses as [::1]:6379")]
    [InlineData("h,ssl=yes", "'ssl' must be true or false, not 'yes'")]
    [InlineData("h,abortConnect=0", "'abortConnect' must be true or false")]
    [InlineData("h,defaultDatabase=-1", "'defaultDatabase' must be a whole number")]
    [InlineData("h,defaultDatabase=one", "'defaultDatabase' must be a whole number")]
    [InlineData("h,connectTimeout=0", "'connectTimeout' must be a whole number from 1")]
    [InlineData("h,syncTimeout=soon", "'syncTimeout' must be a whole number")]
    [InlineData("h,maxPendingCommands=0", "'maxPendingCommands' must be a whole number from 1")]
    [InlineData("h,maxOutgoingBytes=99999999999999999999", "'maxOutgoingBytes' must be a whole number")]
    [InlineData("h,maxReplyBytes=1073741824", "'maxReplyBytes' must be a whole number from 1024 to 536870912")]
    [InlineData("h,user=", "'user' is empty")]
    [InlineData("h,name=two words", "'name' may not contain spaces")]
    [InlineData("h,reconnectDelay=500,reconnectMaxDelay=100", "reconnectMaxDelay must not be less than reconnectDelay")]
    public void Bad_connection_strings_fail_with_a_message_naming_the_problem(string input, string expected)
    {
        var error = Assert.Throws<FormatException>(() => RedisConnectionOptions.Parse(input));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_password_never_appears_in_ToString_or_in_parse_errors()
    {
        var options = RedisConnectionOptions.Parse("h,password=Tr0ub4dor&3,user=bob");
        Assert.DoesNotContain("Tr0ub4dor", options.ToString(), StringComparison.Ordinal);
        Assert.Contains("password=*****", options.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("Tr0ub4dor", $"{options}", StringComparison.Ordinal);

        var error = Assert.Throws<FormatException>(() => RedisConnectionOptions.Parse("h,password=Tr0ub4dor&3,bogus=1"));
        Assert.DoesNotContain("Tr0ub4dor", error.Message, StringComparison.Ordinal);
    }
}
