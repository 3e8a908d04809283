using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using CollabHub.Protocol;
using CollabHub.Server.Configuration;
using CollabHub.Server.Security;
using CollabHub.Server.Store;
using Microsoft.Extensions.Options;

namespace CollabHub.Server.Hubs;

/// <summary>Checks every field a client sends against the contract and the configured limits, before anything is done.</summary>
internal sealed class RequestValidator(IOptions<CollabHubOptions> options)
{
    private readonly LimitsOptions _limits = options.Value.Limits;

    public T Require<T>(T? request) where T : class =>
        request ?? throw new CollabException(ErrorCodes.InvalidArgument, "the request object is required");

    public string RoomId(string? roomId)
    {
        if (string.IsNullOrEmpty(roomId))
        {
            throw new CollabException(ErrorCodes.InvalidRoom, "roomId is required");
        }
        if (roomId.Length > _limits.MaxRoomIdLength || !Identifiers.IsRoomId(roomId))
        {
            throw new CollabException(ErrorCodes.InvalidRoom,
                $"roomId must be 1 to {_limits.MaxRoomIdLength} letters, digits or . _ ~ -, starting with a letter or digit");
        }
        return roomId;
    }

    public string Key(string? key)
    {
        if (string.IsNullOrEmpty(key))
        {
            throw new CollabException(ErrorCodes.InvalidKey, "key is required");
        }
        if (key.Length > _limits.MaxKeyLength)
        {
            throw new CollabException(ErrorCodes.InvalidKey, $"key is longer than {_limits.MaxKeyLength} characters");
        }
        if (!IsPrintable(key))
        {
            throw new CollabException(ErrorCodes.InvalidKey, "key must not contain control characters or unpaired surrogates");
        }
        return key;
    }

    public string UserId(string? userId) =>
        string.IsNullOrEmpty(userId) || userId.Length > _limits.MaxKeyLength || !IsPrintable(userId)
            ? throw new CollabException(ErrorCodes.InvalidArgument, $"userId must be 1 to {_limits.MaxKeyLength} printable characters")
            : userId;

    public RoomRole Role(string? role) => RoomRoles.FromWire(role)
        ?? throw new CollabException(ErrorCodes.InvalidArgument, "role must be one of owner, editor, viewer, none");

    public string? MutationId(string? mutationId)
    {
        if (mutationId is null)
        {
            return null;
        }
        if (mutationId.Length == 0 || mutationId.Length > _limits.MaxMutationIdLength || !IsPrintable(mutationId))
        {
            throw new CollabException(ErrorCodes.InvalidArgument,
                $"mutationId must be 1 to {_limits.MaxMutationIdLength} printable characters");
        }
        return mutationId;
    }

    public long? ExpectedVersion(long? expectedVersion) => expectedVersion is < 0
        ? throw new CollabException(ErrorCodes.InvalidArgument, "expectedVersion must be 0 or more")
        : expectedVersion;

    public long SinceSeq(long? sinceSeq) => sinceSeq switch
    {
        null => throw new CollabException(ErrorCodes.InvalidArgument, "sinceSeq is required"),
        < 0 => throw new CollabException(ErrorCodes.InvalidArgument, "sinceSeq must be 0 or more"),
        _ => sinceSeq.Value,
    };

    public long? OptionalSinceSeq(long? sinceSeq) => sinceSeq is null ? null : SinceSeq(sinceSeq);

    public int Limit(int? limit) => limit switch
    {
        null => _limits.MaxPageItems,
        < 1 => throw new CollabException(ErrorCodes.InvalidArgument, "limit must be 1 or more"),
        _ when limit > _limits.MaxPageItems => throw new CollabException(ErrorCodes.InvalidArgument, $"limit must be at most {_limits.MaxPageItems}"),
        _ => limit.Value,
    };

    public string Value(JsonElement value)
    {
        CheckJson(value, "value", _limits.MaxValueBytes);
        return value.GetRawText();
    }

    /// <summary>
    /// A batch's operations, checked one by one in order (kind, key, value, expected version), then as a whole: no key
    /// twice, at most <see cref="LimitsOptions.MaxBatchOps"/> of them and <see cref="LimitsOptions.MaxBatchBytes"/>
    /// of values and keys.
    /// </summary>
    public IReadOnlyList<BatchOperation> BatchOps(IReadOnlyList<BatchOp?>? ops)
    {
        if (ops is null || ops.Count == 0)
        {
            throw new CollabException(ErrorCodes.InvalidArgument, "ops must hold at least one operation");
        }
        if (ops.Count > _limits.MaxBatchOps)
        {
            throw new CollabException(ErrorCodes.TooLarge, $"a batch may hold at most {_limits.MaxBatchOps} operations");
        }
        var operations = new BatchOperation[ops.Count];
        var keys = new HashSet<string>(ops.Count, StringComparer.Ordinal);
        long bytes = 0;
        for (var i = 0; i < ops.Count; i++)
        {
            var op = ops[i] ?? throw new CollabException(ErrorCodes.InvalidArgument, $"ops[{i}] is null");
            var key = Key(op.Key);
            string? value = op.Op switch
            {
                Protocol.BatchOps.Set => Value(op.Value),
                Protocol.BatchOps.Delete when op.Value.ValueKind == JsonValueKind.Undefined => null,
                Protocol.BatchOps.Delete => throw new CollabException(ErrorCodes.InvalidArgument, $"ops[{i}] is a delete and takes no value"),
                _ => throw new CollabException(ErrorCodes.InvalidArgument, $"ops[{i}].op must be \"{Protocol.BatchOps.Set}\" or \"{Protocol.BatchOps.Delete}\""),
            };
            if (!keys.Add(key))
            {
                throw new CollabException(ErrorCodes.InvalidArgument, $"key '{key}' is in the batch more than once; each key at most once");
            }
            bytes += Encoding.UTF8.GetByteCount(key) + (value is null ? 0 : JsonMarshal.GetRawUtf8Value(op.Value).Length);
            operations[i] = new BatchOperation(key, value, ExpectedVersion(op.ExpectedVersion));
        }
        if (bytes > _limits.MaxBatchBytes)
        {
            throw new CollabException(ErrorCodes.TooLarge, $"the batch's values and keys are larger than {_limits.MaxBatchBytes} bytes");
        }
        return operations;
    }

    public string Body(JsonElement body)
    {
        CheckJson(body, "body", _limits.MaxBodyBytes);
        return body.GetRawText();
    }

    public JsonElement Payload(JsonElement payload)
    {
        CheckJson(payload, "payload", _limits.MaxSignalBytes);
        return payload;
    }

    /// <summary>Checks a JSON field is present and, as the client sent it, small enough; reads its size without copying.</summary>
    private static void CheckJson(JsonElement element, string field, int maxBytes)
    {
        if (element.ValueKind == JsonValueKind.Undefined)
        {
            throw new CollabException(ErrorCodes.InvalidArgument, $"{field} is required (JSON null is a value)");
        }
        var json = JsonMarshal.GetRawUtf8Value(element);
        if (json.Length > maxBytes)
        {
            throw new CollabException(ErrorCodes.TooLarge, $"{field} is larger than {maxBytes} bytes of JSON");
        }
        CheckText(json, field);
    }

    /// <summary>
    /// What every client must be able to read back, and read the same: nesting no deeper than
    /// <see cref="Identifiers.MaxJsonDepth"/> (answers wrap values in a few more levels, and System.Text.Json readers
    /// stop at 64); strings and property names that are valid Unicode (no invalid UTF-8, no lone surrogate escapes),
    /// which the server could not send out again; and no object with the same property name twice (after unescaping),
    /// which some readers take first and others last. Reads the JSON once; allocates for long strings and for the
    /// property names of objects.
    /// </summary>
    private static void CheckText(ReadOnlySpan<byte> json, string field)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 256 });
        char[]? rented = null;
        // The property names seen in each object still open, innermost last; null until the object has a property.
        List<HashSet<string>?> names = [];
        try
        {
            while (reader.Read())
            {
                if (reader.CurrentDepth >= Identifiers.MaxJsonDepth)
                {
                    throw new CollabException(ErrorCodes.InvalidArgument, $"{field} is nested deeper than {Identifiers.MaxJsonDepth} levels");
                }
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject:
                        names.Add(null);
                        break;
                    case JsonTokenType.EndObject:
                        names.RemoveAt(names.Count - 1);
                        break;
                    case JsonTokenType.String or JsonTokenType.PropertyName:
                        var length = reader.HasValueSequence ? checked((int)reader.ValueSequence.Length) : reader.ValueSpan.Length;
                        if (rented is null || rented.Length < length)
                        {
                            if (rented is not null)
                            {
                                ArrayPool<char>.Shared.Return(rented);
                            }
                            rented = ArrayPool<char>.Shared.Rent(Math.Max(length, 64));
                        }
                        var written = reader.CopyString(rented);
                        if (reader.TokenType == JsonTokenType.PropertyName
                            && !(names[^1] ??= new HashSet<string>(StringComparer.Ordinal)).Add(new string(rented, 0, written)))
                        {
                            throw new CollabException(ErrorCodes.InvalidArgument,
                                $"{field} has the property '{Shorten(rented.AsSpan(0, written))}' twice in one object; readers would disagree on its value");
                        }
                        break;
                }
            }
        }
        catch (InvalidOperationException)
        {
            throw new CollabException(ErrorCodes.InvalidArgument, $"{field} holds text that is not valid Unicode (invalid UTF-8 or a lone surrogate)");
        }
        catch (JsonException)
        {
            throw new CollabException(ErrorCodes.InvalidArgument, $"{field} is not valid JSON text");
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<char>.Shared.Return(rented);
            }
        }
    }

    private static string Shorten(ReadOnlySpan<char> name) => name.Length <= 64 ? name.ToString() : $"{name[..64]}…";

    private static bool IsPrintable(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsControl(c))
            {
                return false;
            }
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
                continue;
            }
            if (char.IsSurrogate(c))
            {
                return false;
            }
        }
        return true;
    }
}
