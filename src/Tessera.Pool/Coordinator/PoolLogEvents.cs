namespace Tessera.Pool.Coordinator;

/// <summary>Event ids of the pool's log messages, in one place.</summary>
internal enum PoolLogEvents
{
    CoordinatorStarted = 1000,
    NodeJoined = 1001,
    JoinRefused = 1002,
    NodeConnected = 1003,
    NodeDisconnected = 1004,
    NodeStateChanged = 1005,
    ConnectRefused = 1006,
    CommandFailed = 1007,
    HeartbeatFlushFailed = 1008,
    AgentConnecting = 2000,
    AgentConnected = 2001,
    AgentConnectionLost = 2002,
    AgentCommand = 2003,
    AgentStopped = 2004,
    AgentControlLinkUnavailable = 2005,
}
