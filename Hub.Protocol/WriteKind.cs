namespace CollabHub.Protocol;

/// <summary>The kinds of write a client makes, one per writing hub method (<see cref="HubMethods"/>).</summary>
/// <remarks>The numbers are stored by the server with each applied mutation id: never renumber.</remarks>
public enum WriteKind
{
    /// <summary><see cref="HubMethods.Set"/>.</summary>
    Set = 1,
    /// <summary><see cref="HubMethods.Delete"/>.</summary>
    Delete = 2,
    /// <summary><see cref="HubMethods.Post"/>.</summary>
    Post = 3,
    /// <summary><see cref="HubMethods.Batch"/>.</summary>
    Batch = 4,
}
