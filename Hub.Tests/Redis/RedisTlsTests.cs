using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using CollabHub.Server.Backplane.Redis;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests.Redis;

/// <summary>
/// TLS against a real redis-server listening with <c>--tls-port</c> (Debian's redis-server is built with TLS), using a
/// self-signed certificate made here and trusted by pinning it.
/// </summary>
public sealed class RedisTlsTests : IAsyncLifetime
{
    private readonly TempDirectory _folder = new();
    private X509Certificate2 _certificate = null!;
    private RedisServerProcess _server = null!;

    public async Task InitializeAsync()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        _certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        await File.WriteAllTextAsync(_folder.File("redis.crt"), _certificate.ExportCertificatePem());
        await File.WriteAllTextAsync(_folder.File("redis.key"), key.ExportPkcs8PrivateKeyPem());
        _server = await RedisServerProcess.StartAsync(new RedisServerSettings { Tls = (_folder.File("redis.crt"), _folder.File("redis.key")) });
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _certificate.Dispose();
        _folder.Dispose();
    }

    private SocketRedisStreamFactory TrustingOurCertificate() =>
        new((_, certificate, _, _) => certificate is not null && certificate.GetCertHashString() == _certificate.GetCertHashString());

    [Fact]
    public async Task Commands_and_pub_sub_work_over_TLS()
    {
        await using var client = await RedisTestKit.StartClientAsync(_server.Options(), TrustingOurCertificate());
        var key = RedisTestKit.NewKey();
        var value = new byte[1024 * 1024];
        Random.Shared.NextBytes(value);

        await client.ExecuteAsync("SET", key, value).Within();
        Assert.Equal(value, (await client.ExecuteAsync("GET", key).Within()).AsBytes().ToArray());
        var inbox = new MessageInbox();
        await client.SubscribeAsync("secure", inbox.Handler).Within();
        Assert.Equal(1, await client.PublishAsync("secure", "over tls"u8.ToArray()).Within());
        await inbox.WaitForAsync("secure", "over tls");
        Assert.Contains("ssl=true", client.Options.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_untrusted_certificate_fails_the_connect_with_a_connection_error()
    {
        // The default validation: a self-signed certificate chains to no trusted root.
        var error = await Assert.ThrowsAsync<RedisConnectionException>(() => RedisTestKit.ConnectAsync(_server.Options(), new SocketRedisStreamFactory()));
        Assert.Contains($"127.0.0.1:{_server.Port}", error.Message, StringComparison.Ordinal);
        Assert.IsAssignableFrom<System.Security.Authentication.AuthenticationException>(error.InnerException!.InnerException);
    }

    [Fact]
    public async Task Plain_TCP_to_a_TLS_port_fails_within_the_connect_timeout()
    {
        var options = RedisConnectionOptions.Parse($"127.0.0.1:{_server.Port},connectTimeout=500");
        var started = DateTime.UtcNow;

        await Assert.ThrowsAsync<RedisConnectionException>(() => RedisTestKit.ConnectAsync(options));

        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5));
    }
}
