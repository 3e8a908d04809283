using CollabHub.Server.Configuration;

// appsettings.json and wwwroot/ live at the repository root and are copied beside the binaries, so the content
// root is the binaries' folder for `dotnet run --project Hub.Server` and a `dotnet publish` output alike.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.AddCollabHub();

var app = builder.Build();
await app.UseCollabHubAsync();
await app.RunAsync();
