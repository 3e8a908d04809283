using CollabHub.Server.Backplane;
using CollabHub.Server.Configuration;
using CollabHub.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CollabHub.Tests.ScaleOut;

/// <summary>
/// One server instance in the test process: real Kestrel on a free loopback port, with <see cref="AddressingHub"/>
/// and the backplane the server would use for the given Redis connection string (empty = in-process) and provider.
/// </summary>
internal sealed class HubInstance : IAsyncDisposable
{
    private readonly WebApplication _app;

    private HubInstance(WebApplication app, Uri url)
    {
        _app = app;
        Url = url;
    }

    public Uri Url { get; }

    public IHubContext<AddressingHub> Context => _app.Services.GetRequiredService<IHubContext<AddressingHub>>();

    public static async Task<HubInstance> StartAsync(string redis, string prefix = "test", BackplaneProvider provider = BackplaneProvider.CollabHub)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var options = new CollabHubOptions { Redis = redis, RedisPrefix = prefix };
        options.Backplane.AckTimeout = TimeSpan.FromSeconds(2);
        options.Backplane.Provider = provider;
        builder.Services.AddSingleton(Options.Create(options));
        builder.Services.AddCollabHubBackplane(options);
        builder.Services.AddSingleton<IUserIdProvider, QueryUserIdProvider>();
        builder.Services.AddSignalR();
        var app = builder.Build();
        app.MapHub<AddressingHub>("/hub");
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new HubInstance(app, new Uri(address));
    }

    /// <summary>A connected client of this instance as <paramref name="user"/>, recording what it receives.</summary>
    public async Task<TestConnection> ConnectAsync(string user)
    {
        var connection = new HubConnectionBuilder().WithDirectWebSocket(new Uri(Url, $"/hub?user={user}")).Build();
        var received = new TestConnection(connection, user);
        await connection.StartAsync().WaitAsync(TimeSpan.FromSeconds(15));
        received.Id = await connection.InvokeAsync<string>(nameof(AddressingHub.WhoAmI)).WaitAsync(TimeSpan.FromSeconds(15));
        return received;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>A client connection and the texts it was sent.</summary>
internal sealed class TestConnection : IAsyncDisposable
{
    private readonly List<string> _received = [];
    private readonly SemaphoreSlim _arrived = new(0);

    public TestConnection(HubConnection connection, string user)
    {
        Connection = connection;
        User = user;
        connection.On<string>("Got", text =>
        {
            lock (_received)
            {
                _received.Add(text);
            }
            _arrived.Release();
        });
    }

    public HubConnection Connection { get; }
    public string User { get; }
    public string Id { get; set; } = "";

    public IReadOnlyList<string> Received
    {
        get
        {
            lock (_received)
            {
                return [.. _received];
            }
        }
    }

    public Task InvokeAsync(string method, params object?[] args) =>
        Connection.InvokeCoreAsync(method, args).WaitAsync(TimeSpan.FromSeconds(15));

    public async Task WaitForAsync(string text)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!Received.Contains(text))
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"{User} did not receive '{text}'; it has: [{string.Join(", ", Received)}]");
            }
            await _arrived.WaitAsync(left < TimeSpan.FromMilliseconds(100) ? left : TimeSpan.FromMilliseconds(100));
        }
    }

    public ValueTask DisposeAsync() => Connection.DisposeAsync();
}
