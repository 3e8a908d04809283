using System.Reflection;
using System.Text.Json;
using CollabHub.Protocol;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests;

/// <summary>
/// The JS side of the contract (wwwroot/js/protocol.js, which the JS SDK and the board import) holds the same names,
/// codes, roles, pattern and lengths as Hub.Protocol: the module is loaded by node and every value compared.
/// </summary>
public sealed class ProtocolConstantsTests
{
    private static readonly string WebRoot = Path.Combine(RepoPaths.Root, "wwwroot");
    private static readonly string ModulePath = Path.Combine(WebRoot, "js", "protocol.js");

    // Room ids either side of every rule of the pattern: first character, allowed set, the whole string (a trailing newline).
    private static readonly string[] RoomIdSamples =
        ["a", "Z9", "0.a_b~c-d", "board-1", "-a", ".a", "_a", "~a", "a b", "a/b", "a\n", "\na", "é", "a:b", "", "a%20"];

    [Fact]
    public async Task The_JS_module_names_the_same_methods_events_codes_roles_and_batch_ops_as_Hub_Protocol()
    {
        var js = await LoadModuleAsync();

        Assert.Equal(ConstantsOf(typeof(HubMethods)), Strings(js.GetProperty("HubMethods")));
        Assert.Equal(ConstantsOf(typeof(HubEvents)), Strings(js.GetProperty("HubEvents")));
        Assert.Equal(ConstantsOf(typeof(ErrorCodes)), Strings(js.GetProperty("ErrorCodes")));
        Assert.Equal(ConstantsOf(typeof(RoomRoles)), Strings(js.GetProperty("RoomRoles")));
        Assert.Equal(ConstantsOf(typeof(BatchOps)), Strings(js.GetProperty("BatchOps")));
    }

    [Fact]
    public async Task The_JS_module_calls_the_same_codes_temporary_as_Hub_Protocol()
    {
        var js = await LoadModuleAsync();

        var temporary = ConstantsOf(typeof(ErrorCodes)).Values.Where(ErrorCodes.IsTemporary).Order(StringComparer.Ordinal);
        Assert.Equal(temporary, js.GetProperty("TEMPORARY_CODES").EnumerateArray().Select(c => c.GetString()!).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task The_JS_room_id_pattern_and_lengths_are_those_of_Hub_Protocol()
    {
        var js = await LoadModuleAsync();

        // .NET's \z is JS's $ (without the m flag): the end of the whole string.
        Assert.Equal(Identifiers.RoomIdPattern.Replace(@"\z", "$", StringComparison.Ordinal), js.GetProperty("ROOM_ID_PATTERN").GetString());
        Assert.Equal("", js.GetProperty("ROOM_ID_PATTERN_FLAGS").GetString());
        Assert.Equal(RoomIdSamples.Select(Identifiers.IsRoomId), js.GetProperty("roomIdSamples").EnumerateArray().Select(m => m.GetBoolean()));
        Assert.Equal(Identifiers.DefaultMaxRoomIdLength, js.GetProperty("DEFAULT_MAX_ROOM_ID_LENGTH").GetInt32());
        Assert.Equal(Identifiers.DefaultMaxKeyLength, js.GetProperty("DEFAULT_MAX_KEY_LENGTH").GetInt32());
    }

    [Fact]
    public void No_other_web_file_spells_out_the_room_id_pattern()
    {
        var pattern = Identifiers.RoomIdPattern[1..^2]; // without ^ and \z
        var copies = Directory.EnumerateFiles(WebRoot, "*.js", SearchOption.AllDirectories)
            .Where(file => !file.StartsWith(Path.Combine(WebRoot, "lib"), StringComparison.Ordinal) && file != ModulePath)
            .Where(file => File.ReadAllText(file).Contains(pattern, StringComparison.Ordinal))
            .Select(file => Path.GetRelativePath(RepoPaths.Root, file));
        Assert.Empty(copies);
    }

    private static SortedDictionary<string, string> ConstantsOf(Type type) =>
        new(type.GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral && f.FieldType == typeof(string))
            .ToDictionary(f => f.Name, f => (string)f.GetRawConstantValue()!), StringComparer.Ordinal);

    private static SortedDictionary<string, string> Strings(JsonElement obj) =>
        new(obj.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!), StringComparer.Ordinal);

    /// <summary>Imports the module under node and returns its exports as JSON (the pattern as its source and flags).</summary>
    private static async Task<JsonElement> LoadModuleAsync()
    {
        Assert.True(File.Exists(ModulePath), $"The JS contract module is missing: {ModulePath}");
        var script = $$"""
            const p = await import({{JsonSerializer.Serialize(new Uri(ModulePath).AbsoluteUri)}});
            const samples = {{JsonSerializer.Serialize(RoomIdSamples)}};
            console.log(JSON.stringify({
              ...p,
              TEMPORARY_CODES: [...p.TEMPORARY_CODES],
              ROOM_ID_PATTERN: p.ROOM_ID_PATTERN.source,
              ROOM_ID_PATTERN_FLAGS: p.ROOM_ID_PATTERN.flags,
              roomIdSamples: samples.map(id => p.ROOM_ID_PATTERN.test(id)),
            }));
            """;
        var result = await NodeScript.RunAsync(RepoPaths.Root, ["--input-type=module", "--eval", script], TimeSpan.FromSeconds(30),
            "Install Node.js (`apt-get install -y nodejs`); ./test.sh does it.");
        Assert.True(result.ExitCode == 0, $"node exited with {result.ExitCode}:\n{result.StdErr}");
        return JsonDocument.Parse(result.StdOut).RootElement.Clone();
    }
}
