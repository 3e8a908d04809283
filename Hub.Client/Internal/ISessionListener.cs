namespace CollabHub.Client.Internal;

/// <summary>What the <see cref="ConnectionLoop"/> tells about each session it makes: the rooms and the write queue follow it.</summary>
internal interface ISessionListener
{
    /// <summary>A connection is made and not yet started: its room events are to be routed now, so none is missed.</summary>
    void SessionOpening(CollabConnection connection, Session session);

    /// <summary>The session is connected and is the current one.</summary>
    void SessionStarted(Session session);

    /// <summary>The session ended; it is no longer the current one.</summary>
    void SessionEnded(Session session);
}
