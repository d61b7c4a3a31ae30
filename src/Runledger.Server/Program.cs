using Runledger.Server;

return await RunledgerApp.RunAsync(args);
