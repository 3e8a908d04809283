using System.Text.RegularExpressions;
using CollabHub.Server.Configuration;
using CollabHub.Tests.Infrastructure;

namespace CollabHub.Tests;

/// <summary>Who may know what: the server compiles against the contract, not the SDK; only the hub layer speaks SignalR's errors; hosted parts start in their order.</summary>
public sealed partial class LayeringTests
{
    [Fact]
    public void The_server_references_the_protocol_assembly_and_not_the_client_SDK()
    {
        var project = File.ReadAllText(Path.Combine(RepoPaths.Root, "Hub.Server", "Hub.Server.csproj"));

        Assert.Contains(@"..\Hub.Protocol\Hub.Protocol.csproj", project, StringComparison.Ordinal);
        Assert.DoesNotContain("Hub.Client", project, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Rooms")]
    [InlineData("Security")]
    [InlineData("Store")]
    public void No_service_folder_names_SignalR_exception_types(string folder)
    {
        var offenders = Directory.EnumerateFiles(Path.Combine(RepoPaths.Root, "Hub.Server", folder), "*.cs", SearchOption.AllDirectories)
            .Where(file => SignalRException().IsMatch(File.ReadAllText(file)))
            .Select(file => Path.GetRelativePath(RepoPaths.Root, file));

        Assert.Empty(offenders);
    }

    [Fact]
    public void A_hosted_part_starts_after_the_parts_it_names_whatever_the_registration_order()
    {
        var tracker = new HostedComponent(typeof(string), [typeof(int)]);
        var deltas = new HostedComponent(typeof(int), []);
        var writer = new HostedComponent(typeof(long), []);

        var order = HostedComponents.Order([tracker, writer, deltas]).Select(c => c.Service);

        Assert.Equal([typeof(long), typeof(int), typeof(string)], order);
    }

    [Fact]
    public void A_named_part_that_is_not_registered_is_no_constraint_and_a_cycle_is_refused()
    {
        Assert.Single(HostedComponents.Order([new HostedComponent(typeof(string), [typeof(int)])]));

        var error = Assert.Throws<InvalidOperationException>(() => HostedComponents.Order(
            [new HostedComponent(typeof(string), [typeof(int)]), new HostedComponent(typeof(int), [typeof(string)])]));
        Assert.Contains("cycle", error.Message, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"\bHubException\b|\bHubErrors\b")]
    private static partial Regex SignalRException();
}
