using CollabHub.Server.Backplane;
using CollabHub.Server.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace CollabHub.Tests.Redis;

/// <summary><c>CollabHub:Redis</c> goes to StackExchange.Redis's parser as it is; what it refuses stops the start-up.</summary>
public sealed class RedisConfigurationTests
{
    [Theory]
    [InlineData("127.0.0.1:6379,pasword=secret", "Keyword 'pasword' is not supported")]
    [InlineData("127.0.0.1:6379,ssl=maybe", "Keyword 'ssl' requires a boolean value")]
    [InlineData("127.0.0.1:6379,channelPrefix=other", "leave out channelPrefix; CollabHub:RedisPrefix sets it")]
    public void A_string_that_does_not_parse_is_refused_with_a_message_naming_the_setting(string redis, string why)
    {
        var error = Assert.Throws<InvalidOperationException>(() => new ServiceCollection().AddCollabHubBackplane(new CollabHubOptions { Redis = redis }));

        Assert.StartsWith("CollabHub:Redis is not a valid connection string: ", error.Message, StringComparison.Ordinal);
        Assert.Contains(why, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", error.Message, StringComparison.Ordinal);
    }
}
