using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace CollabHub.Server.Backplane.Redis;

/// <summary>
/// Opens the byte stream a Redis connection talks over. The seam in front of the RESP client: production uses
/// <see cref="SocketRedisStreamFactory"/>; tests wrap or replace it to split reads, stall writes or drop connections.
/// </summary>
internal interface IRedisStreamFactory
{
    /// <summary>
    /// Connects to one of <see cref="RedisConnectionOptions.EndPoints"/> (TLS included when asked for) and returns the
    /// stream, owned by the caller. Must honour <see cref="RedisConnectionOptions.ConnectTimeout"/>; throws on failure.
    /// </summary>
    ValueTask<Stream> ConnectAsync(RedisConnectionOptions options, CancellationToken cancellationToken);
}

/// <summary>
/// TCP (with Nagle off: commands are batched by the connection's writer already) and, with <c>ssl=true</c>, TLS via
/// <see cref="SslStream"/>. Endpoints are tried in order, each address of each name in turn, each attempt bounded by
/// the connect timeout.
/// </summary>
internal sealed class SocketRedisStreamFactory : IRedisStreamFactory
{
    private readonly RemoteCertificateValidationCallback? _certificateValidation;
    private readonly X509CertificateCollection? _clientCertificates;

    /// <param name="certificateValidation">
    /// Decides whether the server's TLS certificate is trusted; null (the default) means the system's validation:
    /// a chain to a trusted root and the <c>sslHost</c> (or host) name.
    /// </param>
    /// <param name="clientCertificates">Certificates offered to servers that ask for one (<c>tls-auth-clients</c>); default none.</param>
    public SocketRedisStreamFactory(RemoteCertificateValidationCallback? certificateValidation = null, X509CertificateCollection? clientCertificates = null)
    {
        _certificateValidation = certificateValidation;
        _clientCertificates = clientCertificates;
    }

    public async ValueTask<Stream> ConnectAsync(RedisConnectionOptions options, CancellationToken cancellationToken)
    {
        var failures = new List<Exception>();
        foreach (var endPoint in options.EndPoints)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.ConnectTimeout);
            try
            {
                return await ConnectAsync(endPoint, options, timeout.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                failures.Add(new TimeoutException($"Connecting to {endPoint} timed out after {options.ConnectTimeout.TotalMilliseconds:0} ms."));
            }
            catch (Exception ex) when (ex is SocketException or IOException or System.Security.Authentication.AuthenticationException)
            {
                failures.Add(new IOException($"Connecting to {endPoint} failed: {ex.Message}", ex));
            }
        }
        throw failures.Count == 1 ? failures[0] : new AggregateException("No Redis endpoint could be reached.", failures);
    }

    private async Task<Stream> ConnectAsync(RedisEndPoint endPoint, RedisConnectionOptions options, CancellationToken cancellationToken)
    {
        var addresses = IPAddress.TryParse(endPoint.Host, out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(endPoint.Host, cancellationToken);
        if (addresses.Length == 0)
        {
            throw new IOException($"{endPoint.Host} resolves to no address.");
        }
        Exception? last = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                // Lets the OS notice a peer that vanished without a word, even if we never write again.
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
                await socket.ConnectAsync(new IPEndPoint(address, endPoint.Port), cancellationToken);
                Stream stream = new NetworkStream(socket, ownsSocket: true);
                if (options.Ssl)
                {
                    stream = await AuthenticateAsync(stream, options.SslHost ?? endPoint.Host, cancellationToken);
                }
                return stream;
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                last = ex;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        throw last!;
    }

    private async Task<Stream> AuthenticateAsync(Stream inner, string targetHost, CancellationToken cancellationToken)
    {
        var ssl = new SslStream(inner, leaveInnerStreamOpen: false);
        try
        {
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = targetHost,
                RemoteCertificateValidationCallback = _certificateValidation,
                ClientCertificates = _clientCertificates,
            }, cancellationToken);
            return ssl;
        }
        catch
        {
            await ssl.DisposeAsync();
            throw;
        }
    }
}
