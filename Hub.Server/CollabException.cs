namespace CollabHub.Server;

/// <summary>
/// The one way a service refuses a call: a stable code of the contract (<c>ErrorCodes</c>) and a sentence for people.
/// Services in Rooms/, Security/ and Store/ throw it, or a subclass that other server code needs to tell apart;
/// only the hub layer (<c>Hubs/ErrorMappingFilter</c>) turns it into the <c>"code: detail"</c> error clients see.
/// </summary>
internal class CollabException(string code, string detail, Exception? innerException = null) : Exception(detail, innerException)
{
    /// <summary>The error code, one of <c>ErrorCodes</c>.</summary>
    public string Code { get; } = code;
}
