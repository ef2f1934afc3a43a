namespace Tessera.Planner;

public enum DeviceKind
{
    Cpu,
    Gpu,
}
