namespace CollabHub.Bench.BareHub;

/// <summary>
/// Runs the bare hub as its own process (<c>Hub.Bench serve-bare --urls URL [--redis HOST:PORT]</c>), at
/// <c>/hubs/collab</c>; with <c>--redis</c> it is the stock scale-out: <c>AddStackExchangeRedis</c>.
/// </summary>
internal static class BareServer
{
    public const string Command = "serve-bare";

    public static async Task<int> RunAsync(string[] args)
    {
        var at = Array.IndexOf(args, "--redis");
        var redis = at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
        var builder = WebApplication.CreateBuilder(at >= 0 ? [.. args[..at], .. args[Math.Min(at + 2, args.Length)..]] : args);
        var signalR = builder.Services.AddSignalR();
        if (redis is not null)
        {
            signalR.AddStackExchangeRedis(redis);
        }
        builder.Services.AddSingleton<RoomCounters>();
        var app = builder.Build();
        app.UseWebSockets();
        app.MapHub<BareHub>("/hubs/collab");
        await app.RunAsync();
        return 0;
    }
}
