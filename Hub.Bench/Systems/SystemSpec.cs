namespace CollabHub.Bench.Systems;

internal enum ServerKind
{
    CollabHub,
    BareSignalR,
    SocketIO,
}

internal enum StoreKind
{
    None,
    Sqlite,
    Postgres,
}

/// <summary>A system under test: which server, which store, and whether its instances share a Redis.</summary>
internal sealed record SystemSpec(string Name, ServerKind Server, StoreKind Store, bool Redis)
{
    public static readonly SystemSpec CollabHub = new("CollabHub", ServerKind.CollabHub, StoreKind.Sqlite, false);
    public static readonly SystemSpec CollabHubPostgres = new("CollabHub (PostgreSQL)", ServerKind.CollabHub, StoreKind.Postgres, false);
    public static readonly SystemSpec CollabHubRedis = new("CollabHub + its Redis backplane", ServerKind.CollabHub, StoreKind.Sqlite, true);
    public static readonly SystemSpec BareSignalR = new("bare SignalR", ServerKind.BareSignalR, StoreKind.None, false);
    public static readonly SystemSpec SignalRRedis = new("SignalR + stock Redis backplane", ServerKind.BareSignalR, StoreKind.None, true);
    public static readonly SystemSpec SocketIO = new("Socket.IO", ServerKind.SocketIO, StoreKind.None, false);
    public static readonly SystemSpec SocketIORedis = new("Socket.IO + redis-adapter", ServerKind.SocketIO, StoreKind.None, true);

    public bool IsCollabHub => Server == ServerKind.CollabHub;
}
