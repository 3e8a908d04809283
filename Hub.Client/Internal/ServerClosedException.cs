namespace CollabHub.Client.Internal;

/// <summary>
/// The server ended the connection on purpose, with a close message and no error: most often an instance draining
/// before a restart, which asks clients to reconnect at once (to another instance). A lost network raises a
/// transport error instead.
/// </summary>
internal sealed class ServerClosedException() : IOException("The server closed the connection.");
