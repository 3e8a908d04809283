using CollabHub.Bench;
using CollabHub.Bench.BareHub;

return args.FirstOrDefault() == BareServer.Command
    ? await BareServer.RunAsync(args[1..])
    : await BenchRunner.RunAsync(args);
