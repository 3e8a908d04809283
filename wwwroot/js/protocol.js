// The CollabHub v1 wire contract as the JS SDK and the board use it: method and event names, error codes, roles,
// batch operation kinds, the room-id pattern and the default lengths. The contract's one home is the .NET assembly
// Hub.Protocol; Hub.Tests/ProtocolConstantsTests.cs checks every value here against it, so the two cannot drift.
// Names are those of Hub.Protocol's classes and constants.

/** The hub methods (Hub.Protocol HubMethods). */
export const HubMethods = Object.freeze({
  Join: "Join", Leave: "Leave", Set: "Set", Delete: "Delete", Batch: "Batch", Post: "Post", Sync: "Sync",
  Signal: "Signal", Grant: "Grant", GetAccess: "GetAccess",
});

/** The events the hub sends to clients (Hub.Protocol HubEvents). */
export const HubEvents = Object.freeze({
  Changed: "Changed", Posted: "Posted", Signaled: "Signaled", PresenceDelta: "PresenceDelta", AccessChanged: "AccessChanged",
});

/** The stable codes at the start of every error message ("code: detail") (Hub.Protocol ErrorCodes). */
export const ErrorCodes = Object.freeze({
  InvalidArgument: "invalid_argument", InvalidRoom: "invalid_room", InvalidKey: "invalid_key", TooLarge: "too_large",
  NotJoined: "not_joined", TooManyRooms: "too_many_rooms", TooManyKeys: "too_many_keys",
  TooManyConnections: "too_many_connections", MutationReused: "mutation_reused", Overloaded: "overloaded",
  Unavailable: "unavailable", Forbidden: "forbidden", RateLimited: "rate_limited", QueueFull: "queue_full",
  Cancelled: "cancelled",
});

/** Codes after which a call may succeed if sent again unchanged, same mutationId (Hub.Protocol ErrorCodes.IsTemporary). */
export const TEMPORARY_CODES = Object.freeze(new Set([ErrorCodes.Overloaded, ErrorCodes.Unavailable, ErrorCodes.RateLimited]));

/** The wire names of the roles (Hub.Protocol RoomRoles). */
export const RoomRoles = Object.freeze({ Owner: "owner", Editor: "editor", Viewer: "viewer", None: "none" });

/** The kinds of operation in a Batch (Hub.Protocol BatchOps). */
export const BatchOps = Object.freeze({ Set: "set", Delete: "delete" });

/** Room ids: letters, digits and . _ ~ -, starting with a letter or digit (Hub.Protocol Identifiers.RoomIdPattern). */
export const ROOM_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._~-]*$/;

/** The longest room id the server takes by default (Identifiers.DefaultMaxRoomIdLength; configurable on the server). */
export const DEFAULT_MAX_ROOM_ID_LENGTH = 128;

/** The longest key the server takes by default (Identifiers.DefaultMaxKeyLength; configurable on the server). */
export const DEFAULT_MAX_KEY_LENGTH = 256;
