using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using CollabHub.Server.Backplane;
using CollabHub.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace CollabHub.Tests.Redis;

/// <summary>
/// <c>CollabHub:Redis</c> strings with a password, an ACL user and TLS, against real redis-servers: they connect, and a
/// wrong one leaves the server running, unready, and says why once, with the password masked.
/// </summary>
public sealed class RedisAuthAndTlsTests
{
    [Fact]
    public async Task A_password_protected_server_accepts_the_right_password()
    {
        await using var server = await RedisServerProcess.StartAsync(new RedisServerSettings { RequirePass = "open sesame" });
        await using var redis = await RedisTestKit.ConnectAsync(server.Configuration());

        // With AbortOnConnectFail off the first attempt may still be under way (or be retried) on a busy machine.
        await RedisTestKit.WaitUntilAsync(() => redis.IsConnected, "the connection with the right credentials");
        Assert.Contains("password=*****", redis.Description, StringComparison.Ordinal);
        Assert.DoesNotContain("open sesame", redis.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_password_starts_without_throwing_stays_disconnected_and_logs_why_once_with_the_password_masked()
    {
        await using var server = await RedisServerProcess.StartAsync(new RedisServerSettings { RequirePass = "right" });
        var logger = new RecordingLogger<RedisConnection>();
        await using var redis = await RedisTestKit.ConnectAsync(ConfigurationOptions.Parse($"127.0.0.1:{server.Port},password=wrong-secret"), logger);

        Assert.False(redis.IsConnected);
        var publish = redis.PublishAsync("channel", "x"u8.ToArray());
        Assert.True(publish.IsFaulted, "fails fast, does not wait in the backlog");
        var warning = Assert.Single(logger.Entries, e => e.Level >= LogLevel.Warning);
        Assert.Equal(4002, warning.EventId.Id);
        Assert.Contains("AuthenticationFailure", warning.Message, StringComparison.Ordinal);
        Assert.Contains("password=*****", warning.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong-secret", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_ACL_user_logs_in_with_user_and_password()
    {
        await using var server = await RedisServerProcess.StartAsync(new RedisServerSettings
        {
            AclUsers = ["alice on >wonderland ~* &* +@all", "default off"],
        });
        await using var redis = await RedisTestKit.ConnectAsync(ConfigurationOptions.Parse($"127.0.0.1:{server.Port},user=alice,password=wonderland"));

        // With AbortOnConnectFail off the first attempt may still be under way (or be retried) on a busy machine.
        await RedisTestKit.WaitUntilAsync(() => redis.IsConnected, "the connection with the right credentials");
        Assert.Equal("alice", (string?)await redis.Database.ExecuteAsync("ACL", "WHOAMI").Within());
    }

    [Fact]
    public async Task Commands_and_pub_sub_work_over_TLS_with_a_trusted_certificate_and_an_untrusted_one_is_refused()
    {
        using var folder = new TempDirectory();
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        await File.WriteAllTextAsync(folder.File("redis.crt"), certificate.ExportCertificatePem());
        await File.WriteAllTextAsync(folder.File("redis.key"), key.ExportPkcs8PrivateKeyPem());
        await using var server = await RedisServerProcess.StartAsync(new RedisServerSettings { Tls = (folder.File("redis.crt"), folder.File("redis.key")) });

        var trusting = server.Configuration();
        trusting.CertificateValidation += (_, presented, _, _) => presented?.GetCertHashString() == certificate.GetCertHashString();
        await using (var redis = await RedisTestKit.ConnectAsync(trusting))
        {
            var value = new byte[1024 * 1024];
            Random.Shared.NextBytes(value);
            var key1 = RedisTestKit.NewKey();
            await redis.Database.StringSetAsync(key1, value).Within();
            Assert.Equal(value, (byte[]?)await redis.Database.StringGetAsync(key1).Within());
            var inbox = new MessageInbox();
            await redis.SubscribeAsync("secure", inbox.Handler).Within();
            await redis.PublishAsync("secure", "over tls"u8.ToArray()).Within();
            await inbox.WaitForAsync("over tls");
            Assert.Contains("ssl=True", redis.Description, StringComparison.OrdinalIgnoreCase);
        }

        // The default validation: a self-signed certificate chains to no trusted root.
        var logger = new RecordingLogger<RedisConnection>();
        await using var untrusted = await RedisTestKit.ConnectAsync(server.Configuration("connectTimeout=2000"), logger);
        Assert.False(untrusted.IsConnected);
        Assert.Equal(1, logger.Count(4002));
    }
}
