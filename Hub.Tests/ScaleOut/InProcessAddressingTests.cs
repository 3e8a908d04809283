namespace CollabHub.Tests.ScaleOut;

/// <summary>The specification against the in-process lifetime manager: one instance plays both.</summary>
public sealed class InProcessAddressingTests : AddressingSpecification
{
    private HubInstance? _instance;

    private protected override async Task<(HubInstance First, HubInstance Second)> StartInstancesAsync()
    {
        _instance = await HubInstance.StartAsync(redis: "");
        return (_instance, _instance);
    }

    private protected override async Task StopInstancesAsync()
    {
        if (_instance is not null)
        {
            await _instance.DisposeAsync();
        }
    }
}
